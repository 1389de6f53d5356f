//! Start-up snapshots in a pool: the process installs one snapshot before
//! its first isolate, and every isolate of that bundle (at start and as a
//! replacement) starts from it and renders what Node renders, byte for
//! byte, while other bundles' isolates beside them are compiled as before.
//! The whole process shares the one snapshot, so every test here uses it.
//! Taking a snapshot in a child process, storing it and starting from it
//! after a restart are tested against the served binary
//! (`ssr-api/tests/cli.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bundles::Bundle;
use e2e::{fixture, fixture_path, node_html, test_config, Job};
use pool::snapshot::InstallError;
use pool::{CacheOutcome, PoolConfig, PoolObserver, RenderPool, RenderRequest, Sample};
use serde_json::json;

/// The basic fixture, plus a page showing what must differ between
/// isolates started from one snapshot: their random numbers and clocks,
/// and how many renders the isolate did; and whether the engine's `gc`
/// function reached the restored context.
fn snapshot_bundle() -> Bundle {
    let basic = std::fs::read_to_string(fixture_path("basic")).unwrap();
    let clock = "\n;let clockRenders = 0;\n\
        SsrPool.register('Clock', () => JSON.stringify({ \
          random: Math.random(), origin: performance.timeOrigin, renders: ++clockRenders, \
          engineGc: typeof gc }));\n";
    Bundle::from_bytes("basic-clock.js", basic + clock, 8 << 20).unwrap()
}

struct Installed {
    bundle: Bundle,
    /// When the snapshot was taken, in ms since the epoch.
    taken_ms: f64,
}

/// Takes the process's snapshot and installs it, once, before any test
/// creates an isolate (every test calls this first).
fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        pool::platform::init(pool::platform::DEFAULT_V8_FLAGS).unwrap();
        let bundle = snapshot_bundle();
        let samples = [
            sample("Hello", json!({"name": "warm"})),
            sample("Clock", json!({})),
        ];
        let taken_ms = now_ms();
        let bytes = pool::snapshot::take(&bundle, &samples, &config(1)).expect("taken");
        pool::snapshot::install(&bundle, bytes, &config(1)).expect("installed");
        Installed { bundle, taken_ms }
    })
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

fn config(workers: usize) -> PoolConfig {
    PoolConfig {
        snapshots: true,
        ..test_config(workers)
    }
}

fn sample(component: &str, props: serde_json::Value) -> Sample {
    Sample {
        component: component.into(),
        props: props.to_string(),
    }
}

/// Counts the isolates started, by how their bundle was loaded.
#[derive(Default)]
struct Loads(Mutex<HashMap<&'static str, usize>>);

impl Loads {
    fn count(&self, outcome: CacheOutcome) -> usize {
        *self.0.lock().unwrap().get(outcome.as_str()).unwrap_or(&0)
    }
}

impl PoolObserver for Loads {
    fn bundle_compiled(&self, _: usize, cache: CacheOutcome, _: Duration) {
        *self.0.lock().unwrap().entry(cache.as_str()).or_default() += 1;
    }
}

async fn start(bundle: Bundle, config: PoolConfig) -> (RenderPool, Arc<Loads>) {
    let loads = Arc::new(Loads::default());
    let pool = RenderPool::builder(bundle)
        .config(config)
        .observer(loads.clone())
        .start()
        .unwrap();
    pool.wait_ready().await.unwrap();
    (pool, loads)
}

async fn html(pool: &RenderPool, job: &Job) -> String {
    let request = RenderRequest::new(job.component.as_str(), job.props.to_string());
    pool.render(request).await.unwrap().html
}

fn basic_jobs() -> Vec<Job> {
    vec![
        Job::new("Hello", json!({"name": "snapshot"})),
        Job::new("List", json!({"items": ["a", "b", "c"]})),
        Job::new("Unicode", json!({})),
        Job::new("Async", json!({"title": "later"})),
        Job::new("Counter", json!({"start": 3})),
    ]
}

#[tokio::test]
async fn isolates_start_from_the_snapshot_and_render_what_node_renders() {
    let installed = installed();
    let (pool, loads) = start(installed.bundle.clone(), config(2)).await;
    assert_eq!(
        pool.status().first_load.unwrap().cache,
        CacheOutcome::Snapshot
    );
    assert_eq!(loads.count(CacheOutcome::Snapshot), 2);
    assert_eq!(loads.count(CacheOutcome::Miss), 0);
    let jobs = basic_jobs();
    let expected = node_html(&fixture_path("basic"), &jobs);
    for (job, expected) in jobs.iter().zip(&expected) {
        assert_eq!(&html(&pool, job).await, expected, "{}", job.component);
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn replacement_isolates_start_from_the_snapshot() {
    let installed = installed();
    let config = PoolConfig {
        max_renders_per_isolate: 3,
        ..config(1)
    };
    let (pool, loads) = start(installed.bundle.clone(), config).await;
    let job = Job::new("List", json!({"items": ["x", "y"]}));
    let expected = node_html(&fixture_path("basic"), std::slice::from_ref(&job)).remove(0);
    for _ in 0..10 {
        assert_eq!(html(&pool, &job).await, expected);
    }
    pool.shutdown().await;
    assert!(loads.count(CacheOutcome::Snapshot) >= 4, "{:?}", loads.0);
    assert_eq!(loads.count(CacheOutcome::Miss), 0, "{:?}", loads.0);
}

#[tokio::test]
async fn other_bundles_are_compiled_beside_the_snapshot() {
    let installed = installed();
    let pages = fixture("pages");
    let (snapshotted, snapshot_loads) = start(installed.bundle.clone(), config(1)).await;
    let (compiled, compiled_loads) = start(pages, config(1)).await;
    assert_eq!(compiled_loads.count(CacheOutcome::Miss), 1);
    assert_eq!(snapshot_loads.count(CacheOutcome::Snapshot), 1);
    let basic_job = Job::new("Hello", json!({"name": "beside"}));
    let pages_job = Job::new("Table", json!({}));
    let basic_html = node_html(&fixture_path("basic"), std::slice::from_ref(&basic_job));
    let pages_html = node_html(&fixture_path("pages"), std::slice::from_ref(&pages_job));
    // Both at once, many times: the isolates share the process's heap
    // spaces.
    for _ in 0..50 {
        let (a, b) = tokio::join!(html(&snapshotted, &basic_job), html(&compiled, &pages_job));
        assert_eq!(a, basic_html[0]);
        assert_eq!(b, pages_html[0]);
    }
    snapshotted.shutdown().await;
    compiled.shutdown().await;
}

#[tokio::test]
async fn isolates_from_one_snapshot_have_their_own_random_numbers_and_clock() {
    let installed = installed();
    std::thread::sleep(Duration::from_millis(20));
    let config = PoolConfig {
        warmup_renders: 0,
        ..config(2)
    };
    let (pool, _) = start(installed.bundle.clone(), config).await;
    let mut pages = Vec::new();
    for _ in 0..8 {
        let page = html(&pool, &Job::new("Clock", json!({}))).await;
        pages.push(serde_json::from_str::<serde_json::Value>(&page).unwrap());
    }
    pool.shutdown().await;
    let randoms: std::collections::HashSet<String> =
        pages.iter().map(|p| p["random"].to_string()).collect();
    assert_eq!(randoms.len(), pages.len(), "{pages:?}");
    for page in &pages {
        // The snapshot's warm-up rendered the page: the count goes on from
        // there; the clock starts with the isolate, not the snapshot.
        assert!(page["renders"].as_u64().unwrap() > 1, "{page}");
        assert_eq!(page["engineGc"], "undefined", "{page}");
        assert!(
            page["origin"].as_f64().unwrap() > installed.taken_ms + 10.0,
            "{page}"
        );
    }
}

#[tokio::test]
async fn a_process_installs_one_snapshot() {
    let installed = installed();
    let again = pool::snapshot::take(&installed.bundle, &[], &config(1)).unwrap();
    let refused = pool::snapshot::install(&installed.bundle, again, &config(1));
    assert!(
        matches!(refused, Err(InstallError::Refused(_))),
        "{refused:?}"
    );
}
