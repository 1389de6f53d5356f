//! The Node baseline: `tests/node/bench.mjs` renders the same bundle and
//! props with react-dom/server in a tight single-threaded loop.

use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::pages::{repo_root, Page};

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
    let output = Command::new("node")
        .arg(repo_root().join("tests/node/bench.mjs"))
        .arg("--bundle")
        .arg(&page.bundle)
        .args(["--component", page.component])
        .arg("--props-file")
        .arg(&props)
        .args([
            "--seconds",
            &seconds.as_secs_f64().to_string(),
            "--warmup",
            "1",
        ])
        .output()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "node bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let line = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(line.trim()).map_err(|e| format!("bad node output {line:?}: {e}"))
}
