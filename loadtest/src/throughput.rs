//! The measurements: closed-loop throughput of a pool, the Node baseline
//! beside it, and code-cache start-up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bundles::{Bundle, ContentHash, DEFAULT_MAX_BUNDLE_BYTES};
use pool::{CodeCacheStore, PoolConfig, RenderPool, RenderRequest, Sample};
use serde_json::json;

use crate::node;
use crate::pages::{self, Page};
use crate::tally::Tally;

/// Throughput and latency of one closed-loop run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    pub renders_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
}

fn load(page: &Page) -> Result<Bundle, String> {
    Bundle::from_file(&page.bundle, DEFAULT_MAX_BUNDLE_BYTES).map_err(|e| e.to_string())
}

async fn start(page: &Page, config: PoolConfig) -> Result<RenderPool, String> {
    let pool = RenderPool::builder(load(page)?)
        .config(config)
        .samples(vec![Sample {
            component: page.component.to_owned(),
            props: page.props.clone(),
        }])
        .start()
        .map_err(|e| e.to_string())?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    Ok(pool)
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

fn config(workers: usize) -> PoolConfig {
    PoolConfig {
        workers,
        warmup_renders: 300,
        ..PoolConfig::default()
    }
}

fn write(out: &Path, name: &str, value: &serde_json::Value) -> Result<(), String> {
    let path = out.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub async fn pool_vs_node(
    page_names: &[String],
    workers: Option<usize>,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let n = workers.unwrap_or_else(|| config(0).worker_count());
    let mut rows = Vec::new();
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>14} {:>18}",
        "page",
        "node r/s",
        "pool(1)",
        format!("pool({n})"),
        "pool(1)/node",
        format!("pool({n})/({n}xnode)")
    );
    for name in page_names {
        let page = pages::page(name)?;
        let node = node::bench(&page, seconds)?;
        let one = start(&page, config(1)).await?;
        let run1 = closed_loop(&one, &page, 2, seconds).await;
        one.shutdown().await;
        let many = start(&page, config(n)).await?;
        let run_n = closed_loop(&many, &page, 2 * n, seconds).await;
        many.shutdown().await;
        let r1 = run1.renders_per_sec / node.renders_per_sec;
        let rn = run_n.renders_per_sec / (n as f64 * node.renders_per_sec);
        println!(
            "{:<10} {:>10.0} {:>10.0} {:>10.0} {:>14.2} {:>18.2}",
            page.name, node.renders_per_sec, run1.renders_per_sec, run_n.renders_per_sec, r1, rn
        );
        rows.push(json!({
            "page": page.name, "workers": n, "node": {"rendersPerSec": node.renders_per_sec, "meanUs": node.mean_us, "renders": node.renders},
            "pool1": run1, "poolN": run_n, "pool1OverNode": r1, "poolNOverNTimesNode": rn,
        }));
    }
    write(
        out,
        "pool-vs-node.json",
        &json!({"seconds": seconds.as_secs_f64(), "rows": rows}),
    )
}

pub async fn semi_space(
    page_names: &[String],
    sizes: &[usize],
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let mut rows = Vec::new();
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10}",
        "page", "semi MB", "r/s", "p50 us", "p99 us"
    );
    for name in page_names {
        let page = pages::page(name)?;
        for &mb in sizes {
            let pool = start(
                &page,
                PoolConfig {
                    semi_space_mb: mb,
                    ..config(1)
                },
            )
            .await?;
            let run = closed_loop(&pool, &page, 2, seconds).await;
            pool.shutdown().await;
            println!(
                "{:<10} {:>8} {:>10.0} {:>10} {:>10}",
                page.name, mb, run.renders_per_sec, run.p50_us, run.p99_us
            );
            rows.push(json!({"page": page.name, "semiSpaceMb": mb, "run": run}));
        }
    }
    write(
        out,
        "semi-space.json",
        &json!({"seconds": seconds.as_secs_f64(), "rows": rows}),
    )
}

pub async fn fresh_context(
    page_names: &[String],
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let mut rows = Vec::new();
    println!(
        "{:<10} {:>12} {:>12} {:>14}",
        "page", "shared r/s", "fresh r/s", "cost/render us"
    );
    for name in page_names {
        let page = pages::page(name)?;
        let shared = start(&page, config(1)).await?;
        let a = closed_loop(&shared, &page, 2, seconds).await;
        shared.shutdown().await;
        let fresh = start(
            &page,
            PoolConfig {
                fresh_context: true,
                warmup_renders: 20,
                ..config(1)
            },
        )
        .await?;
        let b = closed_loop(&fresh, &page, 2, seconds).await;
        fresh.shutdown().await;
        let cost = 1e6 / b.renders_per_sec - 1e6 / a.renders_per_sec;
        println!(
            "{:<10} {:>12.0} {:>12.0} {:>14.0}",
            page.name, a.renders_per_sec, b.renders_per_sec, cost
        );
        rows.push(json!({"page": page.name, "shared": a, "fresh": b, "costPerRenderUs": cost}));
    }
    write(out, "fresh-context.json", &json!({"rows": rows}))
}

/// An in-memory code cache: hands out `bytes` when set, captures what the
/// pool produces.
#[derive(Default)]
struct MemoryStore {
    bytes: Mutex<Option<Vec<u8>>>,
    serve: bool,
}

impl CodeCacheStore for MemoryStore {
    fn load(&self, _: &ContentHash, _: u32) -> Option<Vec<u8>> {
        if self.serve {
            self.bytes.lock().unwrap().clone()
        } else {
            None
        }
    }
    fn store(&self, _: &ContentHash, _: u32, bytes: Vec<u8>) {
        *self.bytes.lock().unwrap() = Some(bytes);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub async fn code_cache(
    flags: &str,
    bundle: Option<PathBuf>,
    component: Option<String>,
    runs: usize,
    out: &Path,
) -> Result<(), String> {
    let (bundle_path, component, props) = match (bundle, component) {
        (Some(b), Some(c)) => (b, c, "{}".to_owned()),
        (None, None) => {
            let path = e2e::find_fixture("library")?;
            (path, "Dashboard".to_owned(), "{}".to_owned())
        }
        _ => return Err("give both --bundle and --component, or neither".into()),
    };
    let bundle =
        Bundle::from_file(&bundle_path, DEFAULT_MAX_BUNDLE_BYTES).map_err(|e| e.to_string())?;
    let sample = Sample {
        component: component.clone(),
        props: props.clone(),
    };
    // Produce the cache after a warm-up, as `warm` does.
    let producer = Arc::new(MemoryStore::default());
    let pool = RenderPool::builder(bundle.clone())
        .v8_flags(flags)
        .config(PoolConfig {
            workers: 1,
            warmup_renders: 50,
            ..PoolConfig::default()
        })
        .samples(vec![sample.clone()])
        .code_cache(producer.clone())
        .start()
        .map_err(|e| e.to_string())?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    // Steady state: the median of many renders in the warm isolate.
    let mut steady = Vec::new();
    for _ in 0..200 {
        let o = pool
            .render(RenderRequest::new(&component, &props))
            .await
            .map_err(|e| e.to_string())?;
        steady.push(o.render_time.as_secs_f64() * 1e3);
    }
    pool.shutdown().await;
    let steady = median(steady);
    let cache = producer
        .bytes
        .lock()
        .unwrap()
        .clone()
        .ok_or("no cache produced")?;
    let serving = Arc::new(MemoryStore {
        bytes: Mutex::new(Some(cache.clone())),
        serve: true,
    });

    let mut results = serde_json::Map::new();
    println!(
        "bundle {} ({} bytes), cache {} bytes, steady render {:.3} ms",
        bundle.name(),
        bundle.len(),
        cache.len(),
        steady
    );
    for (mode, store) in [("cold", None), ("cached", Some(serving.clone()))] {
        let (mut compile, mut evaluate, mut first) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut builder = RenderPool::builder(bundle.clone()).config(PoolConfig {
                workers: 1,
                warmup_renders: 0,
                ..PoolConfig::default()
            });
            if let Some(store) = &store {
                builder = builder.code_cache(store.clone() as Arc<dyn CodeCacheStore>);
            }
            let pool = builder.start().map_err(|e| e.to_string())?;
            pool.wait_ready().await.map_err(|e| e.to_string())?;
            let load = pool.status().first_load.ok_or("no load report")?;
            if mode == "cached" && load.cache != pool::CacheOutcome::Hit {
                return Err(format!("cache not accepted: {}", load.cache.as_str()));
            }
            let o = pool
                .render(RenderRequest::new(&component, &props))
                .await
                .map_err(|e| e.to_string())?;
            pool.shutdown().await;
            compile.push(load.compile.as_secs_f64() * 1e3);
            evaluate.push(load.evaluate.as_secs_f64() * 1e3);
            first.push(o.render_time.as_secs_f64() * 1e3);
        }
        let (c, e, f) = (median(compile), median(evaluate), median(first));
        println!(
            "{mode:<7} compile {c:>8.2} ms   evaluate {e:>8.2} ms   first render {f:>8.2} ms ({:.1}x steady)",
            f / steady
        );
        results.insert(
            mode.into(),
            json!({"compileMs": c, "evaluateMs": e, "firstRenderMs": f, "firstOverSteady": f / steady}),
        );
    }
    let ratio = |key: &str| {
        results["cached"][key].as_f64().unwrap() / results["cold"][key].as_f64().unwrap()
    };
    let (compile_ratio, evaluate_ratio) = (ratio("compileMs"), ratio("evaluateMs"));
    println!("cached/cold: compile {compile_ratio:.3}, evaluate {evaluate_ratio:.3}");
    write(
        out,
        "code-cache.json",
        &json!({
            "bundle": bundle.name(), "bundleBytes": bundle.len(), "cacheBytes": cache.len(),
            "steadyRenderMs": steady, "runs": runs, "results": results,
            "compileCachedOverCold": compile_ratio, "evaluateCachedOverCold": evaluate_ratio, "v8Flags": flags,
        }),
    )
}
