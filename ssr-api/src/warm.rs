//! `ssr-pool warm`: the build step that runs right after the bundle is
//! built. It loads the bundle cold, runs the sample renders (which compiles
//! the functions they use), produces the V8 code cache, checks that every
//! sample renders, writes the cache, and finally loads the bundle again
//! from the cache to show what production start-up will look like.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundles::ContentHash;
use indicatif::{ProgressBar, ProgressStyle};
use pool::{CacheOutcome, RenderPool, RenderRequest, Sample};

use crate::cli::{load_bundle, load_samples};
use crate::codecache::DiskCodeCache;
use crate::settings::PoolArgs;

/// Captures the code cache the pool produces instead of storing it, so it
/// is written only once every sample rendered.
#[derive(Default)]
struct Capture(Mutex<Option<(u32, Vec<u8>)>>);

impl pool::CodeCacheStore for Capture {
    fn load(&self, _bundle: &ContentHash, _v8_tag: u32) -> Option<Vec<u8>> {
        None
    }

    fn store(&self, _bundle: &ContentHash, v8_tag: u32, bytes: Vec<u8>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((v8_tag, bytes));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub async fn run(args: PoolArgs) -> Result<(), String> {
    let dir = args
        .cache_dir()
        .ok_or("warm writes the code cache: remove --no-cache")?;
    let bundle = load_bundle(&args)?;
    let samples = load_samples(&args)?;
    let store = DiskCodeCache::open(&dir, pool::platform::v8_version(), &args.v8_flags())
        .map_err(|e| format!("cache directory {} is not usable: {e}", dir.display()))?;
    eprintln!(
        "warming {} ({} bytes, sha256 {})",
        bundle.name(),
        bundle.len(),
        bundle.hash()
    );

    // Cold load plus warm-up renders, capturing the produced cache.
    let mut config = args.pool_config();
    config.workers = 1;
    let rounds = 3;
    config.warmup_renders = samples.len().max(1) * rounds;
    let capture = Arc::new(Capture::default());
    let pool = RenderPool::builder(bundle.clone())
        .config(config.clone())
        .samples(samples.clone())
        .code_cache(capture.clone())
        .v8_flags(args.v8_flags())
        .start()
        .map_err(|e| e.to_string())?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    let cold = pool
        .status()
        .first_load
        .ok_or("the pool reported no load")?;

    // Every sample must render; without samples, every component with {}.
    let samples = if samples.is_empty() {
        cold.components
            .iter()
            .map(|c| Sample {
                component: c.clone(),
                props: "{}".into(),
            })
            .collect()
    } else {
        samples
    };
    let bar = ProgressBar::new(samples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} samples {msg}").expect("valid template"),
    );
    let mut failures = Vec::new();
    for sample in &samples {
        bar.set_message(sample.component.clone());
        let request = RenderRequest::new(&sample.component, &sample.props);
        if let Err(e) = pool.render(request).await {
            failures.push(format!("  {}: {e}", sample.component));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    pool.shutdown().await;
    if !failures.is_empty() {
        let hint = if args.samples.is_none() {
            "\nwithout --samples each component is rendered once with {} props; \
             give a samples file (JSON array of {\"component\", \"props\"}) with props that render"
        } else {
            ""
        };
        return Err(format!(
            "{} of {} sample renders failed:\n{}{hint}",
            failures.len(),
            samples.len(),
            failures.join("\n")
        ));
    }

    let (tag, bytes) = capture
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or("V8 produced no code cache for this bundle")?;
    let key = store.key(&bundle.hash(), tag);
    let size = bytes.len();
    let path = store
        .cache()
        .put(&key, bytes)
        .map_err(|e| format!("cannot write the code cache: {e}"))?;

    // Load once more from the cache, as production will.
    config.warmup_renders = 0;
    let check = RenderPool::builder(bundle)
        .config(config)
        .code_cache(Arc::new(
            DiskCodeCache::open(&dir, pool::platform::v8_version(), &args.v8_flags())
                .map_err(|e| e.to_string())?,
        ))
        .v8_flags(args.v8_flags())
        .start()
        .map_err(|e| e.to_string())?;
    check.wait_ready().await.map_err(|e| e.to_string())?;
    let warm = check
        .status()
        .first_load
        .ok_or("the pool reported no load")?;
    check.shutdown().await;
    if warm.cache != CacheOutcome::Hit {
        return Err(format!(
            "the written cache was not accepted on reload ({})",
            warm.cache.as_str()
        ));
    }

    println!("key          {key}");
    println!("file         {}", path.display());
    println!("cache size   {size} bytes");
    println!("samples      {} rendered ok", samples.len());
    println!(
        "compile      cold {}  cached {}",
        ms(cold.compile),
        ms(warm.compile)
    );
    println!(
        "evaluate     cold {}  cached {}",
        ms(cold.evaluate),
        ms(warm.evaluate)
    );
    Ok(())
}
