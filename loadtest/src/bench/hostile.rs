//! `ssr-bench hostile`: healthy throughput while some requests are hostile,
//! and the time it takes a worker to replace a poisoned isolate.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool::{PoolConfig, RenderPool, RenderRequest};
use serde_json::json;

use super::harness::{install_snapshot, load, median, ready, sample, write};

const HEALTHY: &str = "Page";

/// A hostile request: its component and, for `deadline`, the deadline it
/// asks for.
#[derive(Clone, Copy)]
struct Hostile {
    component: &'static str,
    timeout: Option<Duration>,
}

/// The request of a hostile kind.
fn hostile_kind(kind: &str) -> Result<Hostile, String> {
    let (component, timeout) = match kind {
        "loop" => ("Loop", None),
        "alloc" => ("Alloc", None),
        "throw" => ("Throw", None),
        // A healthy page asked to finish within 1 ms.
        "deadline" => (HEALTHY, Some(Duration::from_millis(1))),
        "encode" => ("Encode", None),
        "timers" => ("TimerFlood", None),
        "tamper" => ("Tamper", None),
        other => {
            return Err(format!(
            "unknown hostile kind {other} (loop, alloc, throw, deadline, encode, timers, tamper)"
        ))
        }
    };
    Ok(Hostile { component, timeout })
}

/// Resident memory of this process in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Samples the process's RSS until dropped; `peak` gives the highest seen.
struct RssPeak {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssPeak {
    fn start() -> Self {
        let peak = Arc::new(AtomicU64::new(rss()));
        let theirs = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                theirs.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { peak, task }
    }

    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssPeak {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(config: PoolConfig) -> Result<RenderPool, String> {
    let bundle = load(&e2e::find_fixture("mixed")?)?;
    let builder = RenderPool::builder(bundle)
        .config(config)
        .samples(vec![sample(HEALTHY, "{}")]);
    ready(builder).await
}

/// Closed loop with 2 requests in flight per worker; every request whose
/// sequence number falls in the hostile share renders a hostile component.
/// Returns healthy renders per second.
async fn mixed_loop(
    pool: &RenderPool,
    percent: u32,
    hostile: &[Hostile],
    seconds: Duration,
) -> f64 {
    let seq = Arc::new(AtomicU64::new(0));
    let healthy = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + seconds;
    let tasks: Vec<_> = (0..2 * pool.workers())
        .map(|_| {
            let (pool, seq, healthy) = (pool.clone(), seq.clone(), healthy.clone());
            let kinds = hostile.to_vec();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let hostile = (n % 100) < u64::from(percent);
                    let request = if hostile {
                        let kind = kinds[(n / 100) as usize % kinds.len()];
                        RenderRequest {
                            timeout: kind.timeout,
                            ..RenderRequest::new(kind.component, "{}")
                        }
                    } else {
                        RenderRequest::new(HEALTHY, "{}")
                    };
                    let ok = pool.render(request).await.is_ok();
                    if !hostile && ok && Instant::now() >= start {
                        healthy.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("bench task");
    }
    healthy.load(Ordering::Relaxed) as f64 / seconds.as_secs_f64()
}

/// Time from a heap-limit failure's answer until the worker is ready again.
async fn replacement_time(config: PoolConfig, runs: usize) -> Result<Vec<f64>, String> {
    // A deadline long enough for the heap bomb to reach the limit.
    let pool = start(PoolConfig {
        workers: 1,
        render_timeout: Duration::from_secs(30),
        ..config
    })
    .await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let err = pool.render(RenderRequest::new("Alloc", "{}")).await;
        let failed_at = Instant::now();
        if !matches!(err, Err(pool::RenderError::OutOfMemory { .. })) {
            return Err(format!("expected out of memory, got {err:?}"));
        }
        while !pool.is_ready() {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        times.push(failed_at.elapsed().as_secs_f64() * 1e3);
    }
    pool.shutdown().await;
    Ok(times)
}

/// How `ssr-bench hostile` runs.
pub struct Settings<'a> {
    /// Percent of requests that are hostile.
    pub percent: u32,
    /// The render deadline.
    pub timeout: Duration,
    pub heap_limit_mb: usize,
    /// Start isolates from a start-up snapshot taken with these V8 flags.
    pub snapshot: Option<&'a str>,
}

pub async fn run(
    kinds: &[String],
    settings: &Settings<'_>,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let Settings {
        percent,
        timeout,
        heap_limit_mb,
        ..
    } = *settings;
    let snapshot_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let snapshot_bytes = match settings.snapshot {
        Some(flags) => {
            let bundle = e2e::find_fixture("mixed")?;
            let size = install_snapshot(&bundle, HEALTHY, flags, snapshot_dir.path())?;
            println!("isolates start from a {size}-byte start-up snapshot");
            Some(size)
        }
        None => None,
    };
    let config = PoolConfig {
        render_timeout: timeout,
        heap_limit_mb,
        warmup_renders: 200,
        ..PoolConfig::default()
    };
    let hostile = kinds
        .iter()
        .map(|k| hostile_kind(k))
        .collect::<Result<Vec<_>, _>>()?;
    let pool = start(config.clone()).await?;
    let clean_rss = RssPeak::start();
    let clean = mixed_loop(&pool, 0, &hostile, seconds).await;
    let clean_rss = clean_rss.peak();
    let mixed_rss = RssPeak::start();
    let mixed = mixed_loop(&pool, percent, &hostile, seconds).await;
    let mixed_rss = mixed_rss.peak();
    let replaced = pool.status().replaced;
    let workers = pool.workers();
    pool.shutdown().await;
    let mut replace = replacement_time(config, 5).await?;
    let replace_median = median(&mut replace);
    println!("healthy renders/s with 0% hostile:  {clean:.0}");
    println!(
        "healthy renders/s with {percent}% hostile ({}): {mixed:.0}  (ratio {:.3})",
        kinds.join(","),
        mixed / clean
    );
    println!("isolates replaced during the mixed run: {replaced}");
    let budget = (workers as u64 * 2 * heap_limit_mb as u64) << 20;
    println!(
        "peak RSS: clean {} MiB, mixed {} MiB (workers x (heap limit + buffer budget) = {} MiB)",
        clean_rss >> 20,
        mixed_rss >> 20,
        budget >> 20
    );
    println!("time to replace a poisoned isolate: median {replace_median:.1} ms ({replace:.1?})");
    let body = json!({
        "percentHostile": percent, "kinds": kinds, "timeoutMs": timeout.as_millis() as u64, "heapLimitMb": heap_limit_mb,
        "healthyPerSecClean": clean, "healthyPerSecMixed": mixed, "ratio": mixed / clean,
        "isolatesReplaced": replaced, "replaceMsMedian": replace_median, "replaceMs": replace,
        "peakRssCleanBytes": clean_rss, "peakRssMixedBytes": mixed_rss, "workers": workers,
        "snapshotBytes": snapshot_bytes,
    });
    let suffix = if snapshot_bytes.is_some() {
        "-snapshot"
    } else {
        ""
    };
    let name = format!("hostile-{}{suffix}.json", kinds.join("-"));
    write(out, &name, &body)
}
