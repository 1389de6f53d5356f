//! `ssr-bench code-cache`: compile and evaluate of a bundle in a fresh
//! isolate, cold and with V8's code cache, and the first render after each.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bundles::{Bundle, ContentHash};
use pool::{CodeCacheStore, PoolConfig, RenderPool, RenderRequest};
use serde_json::json;

use super::harness::{load, median, ready, sample, write};

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
    let (cache, steady) = produce(&bundle, flags, &component).await?;
    let serving: Arc<dyn CodeCacheStore> = Arc::new(MemoryStore {
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
        let Load {
            compile: c,
            evaluate: e,
            first: f,
        } = loads(&bundle, store, &component, runs).await?;
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
/// `store` as their code cache, which must then be accepted) and renders
/// `component` once in each.
pub(super) async fn loads(
    bundle: &Bundle,
    store: Option<Arc<dyn CodeCacheStore>>,
    component: &str,
    runs: usize,
) -> Result<Load, String> {
    let (mut compile, mut evaluate, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut builder = RenderPool::builder(bundle.clone()).config(PoolConfig {
            workers: 1,
            warmup_renders: 0,
            ..PoolConfig::default()
        });
        if let Some(store) = &store {
            builder = builder.code_cache(store.clone());
        }
        let pool = ready(builder).await?;
        let load = pool.status().first_load.ok_or("no load report")?;
        if store.is_some() && load.cache != pool::CacheOutcome::Hit {
            return Err(format!("cache not accepted: {}", load.cache.as_str()));
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
