pub fn run(_p: crate::settings::PoolArgs, _h: crate::settings::HttpArgs) -> Result<(), String> { Err("todo".into()) }
