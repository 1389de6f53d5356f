//! `ssr-bench code-cache`: how a fresh isolate gets a bundle — compiled
//! cold, compiled from V8's code cache, or started from a start-up snapshot
//! — and the first render after each against the steady state; then the
//! service binary's start-up (spawn to first answered render) in each mode.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bundles::{Bundle, ContentHash};
use pool::{CodeCacheStore, PoolConfig, RenderPool, RenderRequest};
use serde_json::json;

use super::harness::{install_snapshot, load, median, ready, sample, write};

/// Props of every render here.
const PROPS: &str = "{}";

/// An in-memory code cache: hands out `bytes` when set, captures what the
/// pool produces.
#[derive(Default)]
pub(super) struct MemoryStore {
    pub bytes: Mutex<Option<Vec<u8>>>,
    pub serve: bool,
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

/// Median compile, evaluate and first render of one mode, in ms.
pub(super) struct Load {
    pub compile: f64,
    pub evaluate: f64,
    pub first: f64,
}

pub async fn run(
    flags: &str,
    bundle: Option<PathBuf>,
    component: Option<String>,
    runs: usize,
    out: &Path,
) -> Result<(), String> {
    let (bundle_path, component) = match (bundle, component) {
        (Some(b), Some(c)) => (b, c),
        (None, None) => (e2e::find_fixture("library")?, "Dashboard".to_owned()),
        _ => return Err("give both --bundle and --component, or neither".into()),
    };
    let bundle = load(&bundle_path)?;
    // The snapshot first: a process starts from one, installed before its
    // first isolate. `warm` takes it as production's build step does.
    let cache_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let snapshot_bytes = install_snapshot(&bundle_path, &component, flags, cache_dir.path())?;
    let (cache, steady) = produce(&bundle, flags, &component).await?;
    let serving: Arc<dyn CodeCacheStore> = Arc::new(MemoryStore {
        bytes: Mutex::new(Some(cache.clone())),
        serve: true,
    });

    let mut results = serde_json::Map::new();
    println!(
        "bundle {} ({} bytes), cache {} bytes, snapshot {} bytes, steady render {:.3} ms",
        bundle.name(),
        bundle.len(),
        cache.len(),
        snapshot_bytes,
        steady
    );
    let modes = [
        ("cold", None, false),
        ("cached", Some(serving.clone()), false),
        ("snapshot", None, true),
    ];
    for (mode, store, snapshots) in modes {
        let Load {
            compile: c,
            evaluate: e,
            first: f,
        } = loads(&bundle, store, snapshots, &component, runs).await?;
        println!(
            "{mode:<8} load {c:>7.2} + {e:>7.2} ms = ready in {:>7.2} ms   first render {f:>8.2} ms ({:.1}x steady)",
            c + e,
            f / steady
        );
        results.insert(
            mode.into(),
            json!({"compileMs": c, "evaluateMs": e, "readyMs": c + e, "firstRenderMs": f, "firstOverSteady": f / steady}),
        );
    }
    let starts = service_starts(&bundle_path, &component, cache_dir.path()).await?;
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
            "snapshotBytes": snapshot_bytes,
            "steadyRenderMs": steady, "runs": runs, "results": results, "serviceStartMs": starts,
            "compileCachedOverCold": compile_ratio, "evaluateCachedOverCold": evaluate_ratio, "v8Flags": flags,
        }),
    )
}

/// Produces the code cache after a warm-up, as `warm` does, and measures
/// the steady state: the median of many renders in the warm isolate (ms).
pub(super) async fn produce(
    bundle: &Bundle,
    flags: &str,
    component: &str,
) -> Result<(Vec<u8>, f64), String> {
    let producer = Arc::new(MemoryStore::default());
    let builder = RenderPool::builder(bundle.clone())
        .v8_flags(flags)
        .config(PoolConfig {
            workers: 1,
            warmup_renders: 50,
            snapshots: false,
            ..PoolConfig::default()
        })
        .samples(vec![sample(component, PROPS)])
        .code_cache(producer.clone());
    let pool = ready(builder).await?;
    let mut steady = Vec::new();
    for _ in 0..200 {
        let o = pool
            .render(RenderRequest::new(component, PROPS))
            .await
            .map_err(|e| e.to_string())?;
        steady.push(o.render_time.as_secs_f64() * 1e3);
    }
    pool.shutdown().await;
    let cache = producer
        .bytes
        .lock()
        .unwrap()
        .clone()
        .ok_or("no cache produced")?;
    Ok((cache, median(&mut steady)))
}

/// Loads `bundle` in `runs` fresh one-worker pools without warm-up (with
/// `store` as their code cache, which must then be accepted; from the
/// installed snapshot with `snapshots`) and renders `component` once in
/// each.
pub(super) async fn loads(
    bundle: &Bundle,
    store: Option<Arc<dyn CodeCacheStore>>,
    snapshots: bool,
    component: &str,
    runs: usize,
) -> Result<Load, String> {
    let (mut compile, mut evaluate, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut builder = RenderPool::builder(bundle.clone()).config(PoolConfig {
            workers: 1,
            warmup_renders: 0,
            snapshots,
            ..PoolConfig::default()
        });
        if let Some(store) = &store {
            builder = builder.code_cache(store.clone());
        }
        let pool = ready(builder).await?;
        let load = pool.status().first_load.ok_or("no load report")?;
        let expected = match (snapshots, &store) {
            (true, _) => Some(pool::CacheOutcome::Snapshot),
            (false, Some(_)) => Some(pool::CacheOutcome::Hit),
            (false, None) => None,
        };
        if expected.is_some_and(|outcome| load.cache != outcome) {
            return Err(format!(
                "loaded as {}, not {expected:?}",
                load.cache.as_str()
            ));
        }
        let o = pool
            .render(RenderRequest::new(component, PROPS))
            .await
            .map_err(|e| e.to_string())?;
        pool.shutdown().await;
        compile.push(load.compile.as_secs_f64() * 1e3);
        evaluate.push(load.evaluate.as_secs_f64() * 1e3);
        first.push(o.render_time.as_secs_f64() * 1e3);
    }
    Ok(Load {
        compile: median(&mut compile),
        evaluate: median(&mut evaluate),
        first: median(&mut first),
    })
}

/// Runs of the service binary's start-up per mode.
const STARTS: usize = 3;

/// The service binary's start-up, spawn to first answered render, with 2
/// workers: cold, from the code cache and from the snapshot `warm` left in
/// `cache_dir`, with the default warm-up and without (median ms).
async fn service_starts(
    bundle: &Path,
    component: &str,
    cache_dir: &Path,
) -> Result<serde_json::Value, String> {
    let cache = cache_dir.display().to_string();
    let modes: [(&str, Vec<&str>); 3] = [
        // Without a cache directory the service runs with --no-cache.
        ("cold", vec![]),
        ("cached", vec!["--cache-dir", &cache, "--no-snapshots"]),
        ("snapshot", vec!["--cache-dir", &cache]),
    ];
    let call = crate::http::Call::render(component, PROPS);
    let mut out = serde_json::Map::new();
    for (mode, args) in modes {
        for (label, warmup) in [("warm", None), ("noWarmup", Some("0"))] {
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if let Some(n) = warmup {
                args.extend(["--warmup-renders".to_owned(), n.to_owned()]);
            }
            let (mut ms, mut first) = (Vec::new(), Vec::new());
            for _ in 0..STARTS {
                let kind = crate::servers::Kind::Service;
                let server = crate::servers::Server::start(kind, bundle, 2, &call, &args).await?;
                ms.push(server.cold_start.as_secs_f64() * 1e3);
                first.push(first_request_over_steady(&server, &call).await?);
            }
            let (ms, first) = (median(&mut ms), median(&mut first));
            println!(
                "service start {mode:<8} {label:<8} {ms:>8.1} ms; first request once ready {first:.1}x steady"
            );
            out.insert(
                format!("{mode}-{label}"),
                json!({"startMs": ms, "firstRequestOverSteady": first}),
            );
        }
    }
    Ok(serde_json::Value::Object(out))
}

/// The render time of the first request once the server is ready, over
/// the median of the next 200 (Server-Timing `render`).
async fn first_request_over_steady(
    server: &crate::servers::Server,
    call: &crate::http::Call,
) -> Result<f64, String> {
    let timed = crate::http::timed_sequence(server.addr, call, 201).await?;
    let mut steady: Vec<f64> = timed[1..].iter().map(|t| t.render).collect();
    Ok(timed[0].render / median(&mut steady))
}
