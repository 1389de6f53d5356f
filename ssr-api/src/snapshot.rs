//! Start-up snapshots for the service (see the pool's `snapshot` module for
//! what one holds, and why a process starts from at most one).
//!
//! At start, the stored snapshot of the bundle the service starts with is
//! installed before the pool creates any isolate, so every isolate of that
//! bundle (at start, replacements, recycling) starts from it. When there is
//! none, one is taken in a child process once the pool is ready, and stored
//! beside the code cache for the next start; `warm` takes it at build time,
//! and an uploaded bundle gets one once it is warm (for a start that begins
//! with it).
//! V8 aborts a process asked to serialise what it cannot (an `Intl`
//! formatter a bundle made at load): then only the child ends, and the
//! reason is logged.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;
use pool::{PoolConfig, RenderPool, RenderRequest, Sample};
use serde::{Deserialize, Serialize};

use crate::codecache::DiskCodeCache;
use crate::settings::ServiceConfig;

/// The hidden command the child runs.
pub const CHILD_COMMAND: &str = "take-snapshot";

/// Longest a child may take before it is killed.
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// What the child is asked, on its standard input.
#[derive(Serialize, Deserialize)]
struct Request {
    name: String,
    source: String,
    samples: Vec<Sample>,
    pool: PoolConfig,
    v8_flags: String,
    cache_dir: std::path::PathBuf,
}

/// Why no snapshot was taken.
#[derive(Debug)]
pub enum NoSnapshot {
    /// V8 ended the child: the bundle holds what V8 cannot serialise, and
    /// would again. Remembered in the cache, so that starts do not retry.
    Refused(String),
    /// Anything else (a sample failing from the snapshot, a timeout, the
    /// process killed): worth trying again.
    Failed(String),
}

impl std::fmt::Display for NoSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoSnapshot::Refused(reason) | NoSnapshot::Failed(reason) => f.write_str(reason),
        }
    }
}

/// Installs the stored snapshot of `bundle` as this process's, when the
/// cache has one that works; says whether it did. Must run before any
/// isolate is created.
pub fn install_stored(config: &ServiceConfig, bundle: &Bundle, store: &DiskCodeCache) -> bool {
    if !pool::snapshot::applies(bundle, &config.pool) {
        return false;
    }
    if let Err(error) = pool::platform::init(&config.v8_flags) {
        tracing::warn!(%error, "V8 did not start; no start-up snapshot");
        return false;
    }
    let Some(bytes) = store.load_snapshot(&bundle.hash()) else {
        return false;
    };
    let size = bytes.len();
    match pool::snapshot::install(bundle, bytes, &config.pool) {
        Ok(()) => {
            tracing::info!(
                bytes = size,
                "isolates start from the stored start-up snapshot"
            );
            true
        }
        Err(pool::snapshot::InstallError::Refused(reason)) => {
            tracing::warn!(%reason, "the stored start-up snapshot is not used");
            false
        }
        Err(pool::snapshot::InstallError::Unusable(reason)) => {
            tracing::warn!(%reason, "the stored start-up snapshot is not usable; removing it");
            store.remove_snapshot(&bundle.hash());
            false
        }
    }
}

/// Takes start-up snapshots in child processes (this executable) and
/// stores them in the cache directory, under the service's pool settings
/// and V8 flags.
#[derive(Clone)]
pub struct SnapshotTaker {
    pool: PoolConfig,
    v8_flags: String,
    store: Arc<DiskCodeCache>,
}

impl SnapshotTaker {
    /// None when snapshots are off.
    pub fn new(config: &ServiceConfig, store: Arc<DiskCodeCache>) -> Option<Self> {
        config.pool.snapshots.then(|| Self {
            pool: config.pool.clone(),
            v8_flags: config.v8_flags.clone(),
            store,
        })
    }

    /// Takes and stores a snapshot of `bundle` warmed with `samples`;
    /// returns its size, or why there is none (remembering a refusal).
    /// Blocking.
    pub fn take(&self, bundle: &Bundle, samples: &[Sample]) -> Result<usize, NoSnapshot> {
        if !pool::snapshot::applies(bundle, &self.pool) {
            let reason = "only script bundles are snapshotted, not with --fresh-context";
            return Err(NoSnapshot::Failed(reason.into()));
        }
        let request = Request {
            name: bundle.name().to_owned(),
            source: bundle.source().to_owned(),
            samples: samples.to_vec(),
            pool: self.pool.clone(),
            v8_flags: self.v8_flags.clone(),
            cache_dir: self.store.cache().dir().to_path_buf(),
        };
        let taken = spawn_child(&request);
        if let Err(NoSnapshot::Refused(reason)) = &taken {
            self.store.refuse_snapshot(&bundle.hash(), reason);
        }
        taken
    }

    /// Takes one in the background when `bundle` has none stored and
    /// snapshots apply to it; logs how it went. Its isolates start from it
    /// once a start makes it the bundle the service starts with.
    pub fn take_if_missing(&self, bundle: Bundle, samples: Vec<Sample>) {
        if !pool::snapshot::applies(&bundle, &self.pool)
            || self.store.load_snapshot(&bundle.hash()).is_some()
        {
            return;
        }
        if let Some(reason) = self.store.refused_snapshot(&bundle.hash()) {
            tracing::info!(
                bundle = %bundle.hash().short(),
                %reason,
                "no start-up snapshot of this bundle: V8 refused one before; its isolates start from the code cache"
            );
            return;
        }
        let taker = self.clone();
        let spawned = std::thread::Builder::new()
            .name("ssr-snapshot-child".into())
            .spawn(move || {
                let hash = bundle.hash().short();
                match taker.take(&bundle, &samples) {
                    Ok(bytes) => tracing::info!(
                        bundle = %hash,
                        bytes,
                        "start-up snapshot taken and stored; used when a start begins with this bundle"
                    ),
                    Err(reason) => tracing::warn!(
                        bundle = %hash,
                        %reason,
                        "no start-up snapshot of this bundle; its isolates start from the code cache"
                    ),
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start taking a start-up snapshot");
        }
    }
}

/// Runs the child on `request`; the snapshot's size, or why it failed.
fn spawn_child(request: &Request) -> Result<usize, NoSnapshot> {
    run_to_end(request).map_err(NoSnapshot::Failed)?
}

/// The child's outcome, or why it could not be run to its end.
fn run_to_end(request: &Request) -> Result<Result<usize, NoSnapshot>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg(CHILD_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the snapshot process: {e}"))?;
    let input = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input).map_err(|e| e.to_string())?;
    }
    // Read while it runs: a child blocked on a full pipe would never end.
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the snapshot process ran for over {CHILD_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let collect = |reader: Option<std::thread::JoinHandle<String>>| {
        reader.and_then(|r| r.join().ok()).unwrap_or_default()
    };
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    if status.success() {
        let size = stdout.trim().parse();
        return size
            .map(Ok)
            .map_err(|_| format!("the snapshot process said {stdout:?}"));
    }
    Ok(Err(child_failure(status, &stderr)))
}

/// Reads `pipe` to its end on a thread of its own, keeping the last
/// 64 KiB.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        const KEEP: usize = 64 << 10;
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 2 * KEEP {
                kept.drain(..kept.len() - KEEP);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// Why the child failed, from its exit and the last line it wrote: a
/// refusal when V8 ended it (a kill from outside is not one).
fn child_failure(status: std::process::ExitStatus, stderr: &str) -> NoSnapshot {
    let said = stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with("=="))
        .unwrap_or("");
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal @ (libc_signal::SIGKILL | libc_signal::SIGTERM)) => {
            NoSnapshot::Failed(format!("the snapshot process was killed (signal {signal})"))
        }
        Some(signal) => NoSnapshot::Refused(format!(
            "V8 ended the snapshot process (signal {signal}): the bundle holds what V8 cannot \
             serialise, such as an Intl formatter made at load{}",
            fatal_check(stderr)
        )),
        None => NoSnapshot::Failed(format!("the snapshot process failed: {said}")),
    }
}

/// The signals a process is killed with from outside.
mod libc_signal {
    pub const SIGKILL: i32 = 9;
    pub const SIGTERM: i32 = 15;
}

/// V8's own words for a fatal error, when it wrote them.
fn fatal_check(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("# "))
        .filter(|text| !text.is_empty() && *text != "Fatal error")
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

/// The child's side: reads the request, takes the snapshot, checks that an
/// isolate started from it renders every sample, and stores it. Prints its
/// size.
pub fn run_child() -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| e.to_string())?;
    let request: Request = serde_json::from_slice(&input).map_err(|e| e.to_string())?;
    pool::platform::init(&request.v8_flags)?;
    let bundle =
        Bundle::from_bytes(&request.name, request.source, usize::MAX).map_err(|e| e.to_string())?;
    let bytes = pool::snapshot::take(&bundle, &request.samples, &request.pool)?;
    let size = bytes.len();
    pool::snapshot::install(&bundle, bytes.clone(), &request.pool).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(check_renders(&bundle, &request.samples, &request.pool))?;
    let store = DiskCodeCache::open(
        &request.cache_dir,
        pool::platform::v8_version(),
        &request.v8_flags,
    )
    .map_err(|e| e.to_string())?;
    store.store_snapshot(&bundle.hash(), bytes)?;
    println!("{size}");
    Ok(())
}

/// Every sample renders in an isolate started from the installed snapshot.
async fn check_renders(
    bundle: &Bundle,
    samples: &[Sample],
    config: &PoolConfig,
) -> Result<(), String> {
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 0,
        ..config.clone()
    };
    let pool = RenderPool::builder(bundle.clone())
        .config(config)
        .start()
        .map_err(|e| e.to_string())?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    let load = pool.status().first_load.ok_or("no load report")?;
    if load.cache != pool::CacheOutcome::Snapshot {
        return Err("the pool did not start from the snapshot".into());
    }
    for sample in samples {
        let request = RenderRequest::new(&sample.component, &sample.props);
        if let Err(error) = pool.render(request).await {
            pool.shutdown().await;
            return Err(format!(
                "{} does not render from the snapshot: {error}",
                sample.component
            ));
        }
    }
    pool.shutdown().await;
    Ok(())
}
