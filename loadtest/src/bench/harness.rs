//! What the pool benchmarks share: starting a pool, the closed loop that
//! measures it, the configuration they start from, medians and result files.

use std::path::Path;
use std::time::{Duration, Instant};

use bundles::{Bundle, DEFAULT_MAX_BUNDLE_BYTES};
use pool::{PoolBuilder, PoolConfig, RenderPool, RenderRequest, Sample};

use crate::pages::Page;
use crate::tally::Tally;

/// Throughput and latency of one closed-loop run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub renders_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
}

/// The pool configuration of the throughput benchmarks: `workers` workers
/// (0: one per core), each warmed with 300 renders.
pub fn config(workers: usize) -> PoolConfig {
    PoolConfig {
        workers,
        warmup_renders: 300,
        ..PoolConfig::default()
    }
}

/// Reads a bundle as the service does (a script, or an ES module with its
/// chunks).
pub fn load(path: &Path) -> Result<Bundle, String> {
    pool::open_bundle(
        path,
        None,
        DEFAULT_MAX_BUNDLE_BYTES,
        pool::platform::DEFAULT_V8_FLAGS,
    )
    .map_err(|e| e.to_string())
}

pub fn sample(component: &str, props: &str) -> Sample {
    Sample {
        component: component.to_owned(),
        props: props.to_owned(),
    }
}

/// Starts the pool of `builder` and waits until every worker is ready.
pub async fn ready(builder: PoolBuilder) -> Result<RenderPool, String> {
    let pool = builder.start().map_err(|e| e.to_string())?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    Ok(pool)
}

/// A ready pool on `page`'s bundle, warmed up with the page itself.
async fn start(page: &Page, config: PoolConfig) -> Result<RenderPool, String> {
    let builder = RenderPool::builder(load(&page.bundle)?)
        .config(config)
        .samples(vec![sample(page.component, &page.props)]);
    ready(builder).await
}

/// Starts a pool with `config` on `page`, measures it with [`closed_loop`]
/// and shuts it down.
pub async fn measure(
    page: &Page,
    config: PoolConfig,
    concurrency: usize,
    seconds: Duration,
) -> Result<Run, String> {
    let pool = start(page, config).await?;
    let run = closed_loop(&pool, page, concurrency, seconds).await;
    pool.shutdown().await;
    Ok(run)
}

/// Keeps `concurrency` renders in flight for `seconds` (after one second of
/// unmeasured warm-up) and reports throughput and latency.
pub async fn closed_loop(
    pool: &RenderPool,
    page: &Page,
    concurrency: usize,
    seconds: Duration,
) -> Run {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let end = warm_until + seconds;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let pool = pool.clone();
            let request = RenderRequest::new(page.component, page.props.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let ok = pool.render(request.clone()).await.is_ok();
                    if started >= warm_until {
                        tally.record(ok, started.elapsed());
                    }
                }
                tally
            })
        })
        .collect();
    let tally = Tally::merge(tasks).await.expect("bench tasks");
    Run {
        renders_per_sec: tally.hist.len() as f64 / seconds.as_secs_f64(),
        p50_us: tally.hist.value_at_quantile(0.5),
        p99_us: tally.hist.value_at_quantile(0.99),
        errors: tally.errors,
    }
}

/// The median of `values`, which are left sorted.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Writes `value` as pretty JSON to `out/name` and says so on stderr.
pub fn write(out: &Path, name: &str, value: &serde_json::Value) -> Result<(), String> {
    let path = out.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Runs the service binary's `warm` on the bundle at `path` with
/// `component` (`{}` props) as its sample, into `cache_dir`, and installs
/// the start-up snapshot it took as this process's (before any isolate of
/// this process: see `pool::snapshot`). Returns the snapshot's size.
pub fn install_snapshot(
    path: &Path,
    component: &str,
    flags: &str,
    cache_dir: &Path,
) -> Result<usize, String> {
    let samples = cache_dir.join("samples.json");
    let body = format!(r#"[{{"component":"{component}","props":{{}}}}]"#);
    std::fs::write(&samples, body).map_err(|e| e.to_string())?;
    let out = std::process::Command::new(crate::servers::service_binary()?)
        .arg("warm")
        .arg("--bundle")
        .arg(path)
        .arg("--samples")
        .arg(&samples)
        .arg("--cache-dir")
        .arg(cache_dir)
        .arg("--v8-flags")
        .arg(flags)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "warm failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    pool::platform::init(flags)?;
    let v8 = pool::platform::v8_version();
    let store =
        ssr_api::codecache::DiskCodeCache::open(cache_dir, v8, flags).map_err(|e| e.to_string())?;
    let bundle = load(path)?;
    let bytes = store.load_snapshot(&bundle.hash()).ok_or_else(|| {
        format!(
            "warm took no snapshot: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let size = bytes.len();
    pool::snapshot::install(&bundle, bytes, &PoolConfig::default()).map_err(|e| e.to_string())?;
    Ok(size)
}
