//! `ssr-pool warm`: the build step. Loads a bundle, runs sample renders,
//! produces the V8 code cache and writes it to the cache directory.
pub async fn run(_args: crate::settings::PoolArgs) -> Result<(), String> { Err("todo".into()) }
