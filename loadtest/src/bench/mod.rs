//! The benchmarks of the render pool in this process, one subcommand each,
//! on the helpers of [`harness`].

pub mod code_cache;
pub mod deploy;
pub mod fetch;
pub mod formats;
pub mod fresh_context;
pub mod gc;
mod harness;
pub mod hostile;
pub mod pool;
mod rounds;
pub mod semi_space;
pub mod suspense;
mod variants;
pub mod versions;
