//! The Node baseline: `tests/node/bench.mjs` renders the same bundle and
//! props with react-dom/server in a tight single-threaded loop.

use std::ffi::OsStr;
use std::time::Duration;

use serde::Deserialize;

use crate::pages::Page;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResult {
    pub renders: u64,
    pub renders_per_sec: f64,
    pub mean_us: f64,
}

/// Runs the Node baseline for `page` for `seconds` (after 1 s of warm-up).
pub fn bench(page: &Page, seconds: Duration) -> Result<NodeResult, String> {
    let dir = std::env::temp_dir().join(format!("ssr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let props = dir.join(format!("{}.json", page.name));
    std::fs::write(&props, &page.props).map_err(|e| e.to_string())?;
    let seconds = seconds.as_secs_f64().to_string();
    let args: [&OsStr; 10] = [
        "--bundle".as_ref(),
        page.bundle.as_ref(),
        "--component".as_ref(),
        page.component.as_ref(),
        "--props-file".as_ref(),
        props.as_ref(),
        "--seconds".as_ref(),
        seconds.as_ref(),
        "--warmup".as_ref(),
        "1".as_ref(),
    ];
    let stdout = e2e::run_node_script("bench.mjs", args)?;
    let line = String::from_utf8_lossy(&stdout);
    serde_json::from_str(line.trim()).map_err(|e| format!("bad node output {line:?}: {e}"))
}
