//! The HTTP render service and command line around the isolate pool.

pub mod app;
pub mod cli;
pub mod codecache;
pub mod errors;
pub mod example;
pub mod hypernova;
pub mod metrics;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod warm;
