//! The HTTP render service and command line around the isolate pool.

pub mod cli;
pub mod codecache;
pub mod example;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod warm;
