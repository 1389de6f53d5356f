//! Helpers for the end-to-end tests: fixture bundles built from the real
//! npm packages (by `tests/setup.sh`), Node's react-dom/server as the
//! reference renderer, and pools started on them.

pub mod server;
pub mod upstream;

use std::ffi::OsStr;
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

/// Path of a built fixture bundle (`tests/fixtures/build/NAME.js`), or why
/// it is missing.
pub fn find_fixture(name: &str) -> Result<PathBuf, String> {
    let path = repo_root()
        .join("tests/fixtures/build")
        .join(format!("{name}.js"));
    existing(path, "run tests/setup.sh (or make setup) first")
}

/// `path` if it exists, else an error that names it and says what makes it
/// (`remedy`).
pub fn existing(path: PathBuf, remedy: &str) -> Result<PathBuf, String> {
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} is missing: {remedy}", path.display()))
    }
}

/// Path of a built fixture bundle (`tests/fixtures/build/NAME.js`); panics
/// when it is missing.
pub fn fixture_path(name: &str) -> PathBuf {
    find_fixture(name).unwrap_or_else(|e| panic!("{e}"))
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
    let args = [
        OsStr::new("--bundle"),
        bundle.as_os_str(),
        OsStr::new("--jobs"),
        jobs_file.as_os_str(),
    ];
    let stdout = run_node_script("render.mjs", args)
        .unwrap_or_else(|e| panic!("node reference render: {e}"));
    let results: Vec<NodeResult> =
        serde_json::from_slice(&stdout).expect("render.mjs prints a JSON array");
    assert_eq!(results.len(), jobs.len());
    results
}

/// Runs `node tests/node/SCRIPT ARGS...` and returns what it printed on
/// stdout; an error says whether Node could not start or the script failed
/// (with its stderr).
pub fn run_node_script<I, S>(script: &str, args: I) -> Result<Vec<u8>, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new("node")
        .arg(repo_root().join("tests/node").join(script))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run node (install Node.js >= 20.19): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "node {script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output.stdout)
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

/// A small pool config for tests: few workers, short warm-up, and no
/// start-up snapshots: a process starts from at most one, before its first
/// isolate, which the servers and pools of a test binary share; the tests
/// of snapshots turn them on (`snapshots.rs`, and the served binary in
/// `ssr-api/tests/cli.rs`).
pub fn test_config(workers: usize) -> PoolConfig {
    PoolConfig {
        workers,
        warmup_renders: 5,
        snapshots: false,
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

/// Runs `ssr-pool warm` on `config` (which names a cache directory), then
/// starts a pool from that cache as `serve` would, ready.
pub async fn warm_then_start(config: &ssr_api::settings::ServiceConfig) -> RenderPool {
    ssr_api::warm::run(config.clone())
        .await
        .expect("warm succeeds");
    let pool = ssr_api::startup::build_pool(
        config,
        std::sync::Arc::new(pool::NoopObserver),
        ssr_api::startup::CacheAccess::ReadWrite,
    )
    .expect("the pool starts");
    pool.wait_ready().await.expect("the pool becomes ready");
    pool
}

/// A free loopback TCP port: bound to port 0, then released for the caller
/// to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
