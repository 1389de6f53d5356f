//! The HTTP render service and command line around the isolate pool.

pub mod admin;
pub mod app;
pub mod cli;
pub mod codecache;
pub mod deploy;
pub mod errors;
pub mod example;
pub mod hypernova;
pub mod metrics;
pub mod registry;
pub mod settings;
pub mod snapshot;
pub mod startup;
pub mod telemetry;
pub mod warm;
