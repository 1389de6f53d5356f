//! Helpers for the end-to-end tests: fixture bundles built from the real
//! npm packages (by `tests/setup.sh`), Node's react-dom/server as the
//! reference renderer, and pools started on them.

pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

use bundles::{Bundle, DEFAULT_MAX_BUNDLE_BYTES};
use pool::{PoolConfig, RenderPool};
use serde::Deserialize;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a built fixture bundle (`tests/fixtures/build/NAME.js`).
pub fn fixture_path(name: &str) -> PathBuf {
    let path = repo_root()
        .join("tests/fixtures/build")
        .join(format!("{name}.js"));
    assert!(
        path.exists(),
        "fixture bundle {} is missing: run tests/setup.sh first",
        path.display()
    );
    path
}

/// A built fixture bundle.
pub fn fixture(name: &str) -> Bundle {
    Bundle::from_file(fixture_path(name), DEFAULT_MAX_BUNDLE_BYTES).expect("fixture loads")
}

/// A render job for the Node reference renderer.
#[derive(Debug, Clone)]
pub struct Job {
    pub component: String,
    pub props: serde_json::Value,
}

impl Job {
    pub fn new(component: &str, props: serde_json::Value) -> Self {
        Self {
            component: component.to_owned(),
            props,
        }
    }
}

/// What Node rendered for one job.
#[derive(Debug, Deserialize)]
pub struct NodeResult {
    pub html: Option<String>,
    pub error: Option<NodeError>,
}

#[derive(Debug, Deserialize)]
pub struct NodeError {
    pub name: String,
    pub message: String,
}

/// Renders `jobs` with Node's react-dom/server on the same bundle file, in
/// one Node process (`tests/node/render.mjs --jobs`).
pub fn node_render(bundle: &Path, jobs: &[Job]) -> Vec<NodeResult> {
    let dir = tempfile::tempdir().expect("temp dir");
    let jobs_file = dir.path().join("jobs.json");
    let body: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| serde_json::json!({"component": j.component, "props": j.props}))
        .collect();
    std::fs::write(&jobs_file, serde_json::to_vec(&body).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(repo_root().join("tests/node/render.mjs"))
        .arg("--bundle")
        .arg(bundle)
        .arg("--jobs")
        .arg(&jobs_file)
        .output()
        .expect("node runs (install Node.js >= 20.19)");
    assert!(
        output.status.success(),
        "node reference render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<NodeResult> =
        serde_json::from_slice(&output.stdout).expect("render.mjs prints a JSON array");
    assert_eq!(results.len(), jobs.len());
    results
}

/// Node's HTML for each job; panics if Node failed any of them.
pub fn node_html(bundle: &Path, jobs: &[Job]) -> Vec<String> {
    node_render(bundle, jobs)
        .into_iter()
        .zip(jobs)
        .map(|(r, job)| match r.html {
            Some(html) => html,
            None => panic!("node failed to render {}: {:?}", job.component, r.error),
        })
        .collect()
}

/// A small pool config for tests: few workers, short warm-up.
pub fn test_config(workers: usize) -> PoolConfig {
    PoolConfig {
        workers,
        warmup_renders: 5,
        ..PoolConfig::default()
    }
}

/// Starts a pool on `bundle` and waits until it is ready.
pub async fn start_pool(bundle: Bundle, config: PoolConfig) -> RenderPool {
    let pool = RenderPool::builder(bundle)
        .config(config)
        .start()
        .expect("pool starts");
    pool.wait_ready().await.expect("pool becomes ready");
    pool
}
