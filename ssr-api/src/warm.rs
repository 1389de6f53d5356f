//! `ssr-pool warm`: the build step that runs right after the bundle is
//! built. It loads the bundle cold, runs the sample renders (which compiles
//! the functions they use), produces the V8 code cache, checks that every
//! sample renders, writes the cache, and finally loads the bundle again
//! from the cache to show what production start-up will look like.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundles::{Bundle, ContentHash};
use indicatif::{ProgressBar, ProgressStyle};
use pool::{CacheOutcome, CodeCacheStore, LoadReport, RenderPool, RenderRequest, Sample};

use crate::codecache::DiskCodeCache;
use crate::settings::ServiceConfig;
use crate::snapshot::SnapshotTaker;
use crate::startup::{self, CacheAccess};

/// Rounds of every sample each warm-up isolate renders before the cache is
/// produced.
const WARMUP_ROUNDS: usize = 3;

/// Captures the code cache the pool produces instead of storing it, so it
/// is written only once every sample rendered.
#[derive(Default)]
struct Capture(Mutex<Option<(u32, Vec<u8>)>>);

impl CodeCacheStore for Capture {
    fn load(&self, _bundle: &ContentHash, _v8_tag: u32) -> Option<Vec<u8>> {
        None
    }

    fn store(&self, _bundle: &ContentHash, v8_tag: u32, bytes: Vec<u8>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((v8_tag, bytes));
    }
}

impl Capture {
    fn take(&self) -> Option<(u32, Vec<u8>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub async fn run(mut config: ServiceConfig) -> Result<(), String> {
    let store = startup::open_code_cache(&config, CacheAccess::ReadWrite)?
        .map(Arc::new)
        .ok_or("warm writes the code cache: remove --no-cache")?;
    let bundle = startup::load_bundle(&config)?;
    let samples = startup::load_samples(&config)?;
    let given_samples = !samples.is_empty();
    eprintln!(
        "warming {} ({}, {} file(s), {} bytes, sha256 {})",
        bundle.name(),
        bundle.format(),
        bundle.files().len(),
        bundle.len(),
        bundle.hash()
    );
    config.pool.workers = 1;
    config.pool.warmup_renders = samples.len().max(1) * WARMUP_ROUNDS;

    // Cold load plus warm-up renders, capturing the produced cache.
    let capture = Arc::new(Capture::default());
    let pool = startup::start_pool(
        &config,
        bundle.clone(),
        samples.clone(),
        Arc::new(pool::NoopObserver),
        Some(capture.clone()),
    )?;
    let cold = ready_load(&pool).await?;
    let samples = if given_samples {
        samples
    } else {
        every_component(&cold)
    };
    let failures = render_samples(&pool, &samples).await;
    pool.shutdown().await;
    check_samples(&failures, samples.len(), given_samples)?;

    let (tag, bytes) = capture
        .take()
        .ok_or("V8 produced no code cache for this bundle")?;
    let size = bytes.len();
    let (key, path) = write_cache(&store, &bundle, tag, bytes)?;

    // The start-up snapshot, taken after its own warm-up (in a child
    // process: V8 ends a process asked to serialise what it cannot).
    let snapshot = match SnapshotTaker::new(&config, Arc::clone(&store)) {
        Some(taker) => taker
            .take(&bundle, &samples)
            .map(|bytes| format!("{bytes} bytes"))
            .unwrap_or_else(|reason| format!("none: {reason}")),
        None => "none: --no-snapshots".into(),
    };

    // Load once more from the file, as production will.
    store.cache().clear_memory();
    config.pool.warmup_renders = 0;
    let warm = reload(&config, bundle, store).await?;

    println!("key          {key}");
    println!("file         {}", path.display());
    println!("cache size   {size} bytes");
    println!("snapshot     {snapshot}");
    println!("samples      {} rendered ok", samples.len());
    // The reload failed unless every file's cache was a hit.
    println!(
        "format       {}, {} file(s) cached",
        warm.format, warm.files
    );
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

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Waits for the pool and returns how its bundle loaded.
async fn ready_load(pool: &RenderPool) -> Result<LoadReport, String> {
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    pool.status()
        .first_load
        .ok_or_else(|| "the pool reported no load".to_owned())
}

/// Every registered component with `{}` props.
fn every_component(load: &LoadReport) -> Vec<Sample> {
    load.components
        .iter()
        .map(|c| Sample {
            component: c.clone(),
            props: "{}".into(),
        })
        .collect()
}

/// Renders each sample once, with a progress bar; returns the failures.
async fn render_samples(pool: &RenderPool, samples: &[Sample]) -> Vec<String> {
    let bar = ProgressBar::new(samples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} samples {msg}").expect("valid template"),
    );
    let mut failures = Vec::new();
    for sample in samples {
        bar.set_message(sample.component.clone());
        let request = RenderRequest::new(&sample.component, &sample.props);
        if let Err(e) = pool.render(request).await {
            failures.push(format!("  {}: {e}", sample.component));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    failures
}

fn check_samples(failures: &[String], total: usize, given: bool) -> Result<(), String> {
    if failures.is_empty() {
        return Ok(());
    }
    let hint = if given {
        ""
    } else {
        "\nwithout --samples each component is rendered once with {} props; \
         give a samples file (JSON array of {\"component\", \"props\"}) with props that render"
    };
    Err(format!(
        "{} of {total} sample renders failed:\n{}{hint}",
        failures.len(),
        failures.join("\n")
    ))
}

fn write_cache(
    store: &DiskCodeCache,
    bundle: &Bundle,
    tag: u32,
    bytes: Vec<u8>,
) -> Result<(cache::CacheKey, PathBuf), String> {
    let key = store.key(&bundle.hash(), tag);
    let path = store
        .cache()
        .put(&key, bytes)
        .map_err(|e| format!("cannot write the code cache: {e}"))?;
    Ok((key, path))
}

/// Loads the bundle again from the written cache and checks V8 accepts it.
async fn reload(
    config: &ServiceConfig,
    bundle: Bundle,
    store: Arc<DiskCodeCache>,
) -> Result<LoadReport, String> {
    let check = startup::start_pool(
        config,
        bundle,
        Vec::new(),
        Arc::new(pool::NoopObserver),
        Some(store),
    )?;
    let warm = ready_load(&check).await;
    check.shutdown().await;
    let warm = warm?;
    if warm.cache != CacheOutcome::Hit {
        return Err(format!(
            "the written cache was not accepted on reload ({})",
            warm.cache.as_str()
        ));
    }
    Ok(warm)
}
