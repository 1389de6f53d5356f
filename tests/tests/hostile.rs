//! Hostile bundles, under concurrent healthy load: every render is bounded,
//! the process survives, other renders stay correct, and the pool gets back
//! to all workers ready.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{fixture, fixture_path, node_html, start_pool, test_config, Job};
use pool::{PoolConfig, RenderError, RenderPool, RenderRequest, StartError};
use serde_json::json;

/// The tests here measure threads and memory of the whole process, so they
/// run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn hostile_config() -> PoolConfig {
    PoolConfig {
        workers: 2,
        warmup_renders: 0,
        render_timeout: Duration::from_millis(300),
        heap_limit_mb: 64,
        semi_space_mb: 4,
        ..PoolConfig::default()
    }
}

/// Renders Hello on a healthy pool in a loop, checking every result against
/// Node, until dropped.
struct HealthyLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl HealthyLoad {
    fn start() -> Self {
        let job = Job::new("Hello", json!({"name": "healthy"}));
        let expected = node_html(&fixture_path("basic"), std::slice::from_ref(&job)).remove(0);
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let (stop2, ok2) = (stop.clone(), ok.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let pool = start_pool(fixture("basic"), test_config(1)).await;
                while !stop2.load(Ordering::Relaxed) {
                    let out = pool
                        .render(RenderRequest::new("Hello", job.props.to_string()))
                        .await
                        .map_err(|e| format!("healthy render failed: {e}"))?;
                    if out.html != expected {
                        return Err(format!("healthy render differs: {}", out.html));
                    }
                    ok2.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                pool.shutdown().await;
                Ok(())
            })
        });
        Self {
            stop,
            ok,
            thread: Some(thread),
        }
    }

    /// Stops the load; fails if any healthy render was wrong.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let result = self.thread.take().unwrap().join().unwrap();
        result.unwrap();
        self.ok.load(Ordering::Relaxed)
    }
}

async fn render(
    pool: &RenderPool,
    component: &str,
    props: serde_json::Value,
) -> Result<String, RenderError> {
    pool.render(RenderRequest::new(component, props.to_string()))
        .await
        .map(|o| o.html)
}

/// Waits (bounded) until every worker is ready again.
async fn back_to_ready(pool: &RenderPool) {
    let started = Instant::now();
    while !pool.is_ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "pool did not recover: {:?}",
            pool.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn expect_each_time(
    bundle: &str,
    component: &str,
    config: PoolConfig,
    check: impl Fn(&RenderError) -> bool,
) -> RenderPool {
    let pool = start_pool(fixture(bundle), config).await;
    for attempt in 0..3 {
        let started = Instant::now();
        let err = render(&pool, component, json!({})).await.unwrap_err();
        assert!(
            check(&err),
            "{component} attempt {attempt}: unexpected {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{component} was not bounded"
        );
        back_to_ready(&pool).await;
    }
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bundles_fail_alone_and_the_pool_recovers() {
    let _serial = SERIAL.lock().await;
    let load = HealthyLoad::start();
    let timeout = |e: &RenderError| matches!(e, RenderError::Timeout(_));

    expect_each_time("loop", "Loop", hostile_config(), timeout)
        .await
        .shutdown()
        .await;
    expect_each_time("promise-loop", "PromiseLoop", hostile_config(), timeout)
        .await
        .shutdown()
        .await;
    expect_each_time("timer-loop", "TimerLoop", hostile_config(), timeout)
        .await
        .shutdown()
        .await;
    expect_each_time("timer-loop", "TimerChain", hostile_config(), timeout)
        .await
        .shutdown()
        .await;
    expect_each_time("never", "Never", hostile_config(), |e| {
        matches!(e, RenderError::NeverSettled)
    })
    .await
    .shutdown()
    .await;

    // Heap bombs get a deadline long enough to reach the heap limit.
    let alloc_config = || PoolConfig {
        render_timeout: Duration::from_secs(20),
        ..hostile_config()
    };
    for component in ["AllocArrays", "AllocStrings"] {
        let pool = expect_each_time("alloc", component, alloc_config(), |e| {
            matches!(e, RenderError::OutOfMemory { limit_mb: 64 })
        })
        .await;
        assert!(
            pool.status().replaced >= 3,
            "{component}: {:?}",
            pool.status()
        );
        pool.shutdown().await;
    }
    expect_each_time("alloc", "AllocTyped", alloc_config(), |e| match e {
        RenderError::Js(js) => {
            js.name == "RangeError" && js.message.contains("Array buffer allocation failed")
        }
        RenderError::OutOfMemory { .. } => true,
        _ => false,
    })
    .await
    .shutdown()
    .await;

    expect_each_time("recursion", "Recurse", hostile_config(), |e| {
        matches!(e, RenderError::Js(js) if js.name == "RangeError" && js.message.contains("call stack"))
    })
    .await
    .shutdown()
    .await;

    let mut small_output = hostile_config();
    small_output.heap_limit_mb = 512;
    small_output.max_output_bytes = 50 << 20;
    small_output.render_timeout = Duration::from_secs(10);
    let pool = expect_each_time("huge-output", "Huge", small_output, |e| {
        matches!(e, RenderError::OutputTooLarge { size, limit } if *size == 100 << 20 && *limit == 50 << 20)
    })
    .await;
    let html = render(&pool, "Huge", json!({"mb": 1})).await.unwrap();
    assert_eq!(html.len(), 1 << 20);
    pool.shutdown().await;

    let pool = start_pool(fixture("throw-values"), hostile_config()).await;
    let err = render(&pool, "ThrowString", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, RenderError::Js(js) if js.name == "string" && js.message == "plain string thrown"),
        "{err:?}"
    );
    let err = render(&pool, "ThrowNull", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, RenderError::Js(js) if js.name == "null" && js.message == "null"),
        "{err:?}"
    );
    let err = render(&pool, "ThrowGetter", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, RenderError::Js(js) if js.name == "Error" && js.stack.is_none()),
        "{err:?}"
    );
    pool.shutdown().await;

    let pool = RenderPool::builder(fixture("load-throws"))
        .config(hostile_config())
        .start()
        .unwrap();
    match pool.wait_ready().await {
        Err(StartError::BundleThrew { error, .. }) => assert!(!error.message.is_empty()),
        other => panic!("expected the load to fail, got {other:?}"),
    }
    assert!(matches!(
        RenderPool::builder(bundles::Bundle::from_bytes("syntax.js", "function (", 100).unwrap())
            .config(hostile_config())
            .start()
            .unwrap()
            .wait_ready()
            .await,
        Err(StartError::Syntax { .. })
    ));

    let healthy = load.finish();
    assert!(healthy > 10, "healthy renders ran alongside: {healthy}");
}

#[tokio::test]
async fn a_render_that_redefines_globals_does_not_reach_later_renders() {
    let _serial = SERIAL.lock().await;
    let fine = Job::new("Fine", json!({"items": ["x", "y"]}));
    let expected = node_html(&fixture_path("redefine"), std::slice::from_ref(&fine)).remove(0);
    for fresh_context in [false, true] {
        let config = PoolConfig {
            workers: 1,
            fresh_context,
            ..hostile_config()
        };
        let pool = start_pool(fixture("redefine"), config).await;
        assert_eq!(
            render(&pool, "Fine", fine.props.clone()).await.unwrap(),
            expected
        );
        assert_eq!(
            render(&pool, "Redefine", json!({})).await.unwrap(),
            "<p>redefined</p>"
        );
        assert_eq!(
            render(&pool, "Fine", fine.props.clone()).await.unwrap(),
            expected,
            "fresh_context={fresh_context}"
        );
        // Shared mode replaces the tampered isolate; fresh mode never needs to.
        assert_eq!(pool.status().replaced, u64::from(!fresh_context));
        pool.shutdown().await;
    }
}

fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_of_hostile_and_healthy_renders_does_not_grow() {
    let _serial = SERIAL.lock().await;
    let job = Job::new("Hello", json!({"name": "soak"}));
    let expected = node_html(&fixture_path("basic"), std::slice::from_ref(&job)).remove(0);
    let healthy = start_pool(fixture("basic"), test_config(1)).await;
    let hostile = start_pool(fixture("alloc"), hostile_config()).await;
    let looping = start_pool(fixture("loop"), hostile_config()).await;

    let round = |i: usize| {
        let (healthy, hostile, looping, job, expected) =
            (&healthy, &hostile, &looping, &job, &expected);
        async move {
            let bad = if i % 2 == 0 {
                render(hostile, "AllocStrings", json!({}))
            } else {
                render(looping, "Loop", json!({}))
            };
            let good = async {
                for _ in 0..20 {
                    let html = render(healthy, "Hello", job.props.clone()).await.unwrap();
                    assert_eq!(&html, expected);
                }
            };
            let (bad, ()) = tokio::join!(bad, good);
            assert!(bad.is_err());
        }
    };
    // Warm phase, then measure.
    for i in 0..4 {
        round(i).await;
    }
    back_to_ready(&hostile).await;
    let rss_before = proc_status("VmRSS:");
    let threads_before = proc_status("Threads:");
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut rounds = 0;
    while Instant::now() < deadline {
        round(rounds).await;
        rounds += 1;
    }
    back_to_ready(&hostile).await;
    back_to_ready(&looping).await;
    let rss_after = proc_status("VmRSS:");
    let threads_after = proc_status("Threads:");
    assert!(rounds >= 10, "only {rounds} rounds");
    assert_eq!(threads_after, threads_before, "threads grew");
    assert!(
        rss_after < rss_before + 150 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB over {rounds} rounds"
    );
    for pool in [healthy, hostile, looping] {
        pool.shutdown().await;
    }
}

/// Heap bombs that hit the deadline and the heap limit in turn, on one
/// worker: memory stays bounded (a terminated isolate is replaced, never
/// reused).
#[tokio::test]
async fn heap_bombs_racing_the_deadline_keep_memory_bounded() {
    let _serial = SERIAL.lock().await;
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 0,
        heap_limit_mb: 128,
        render_timeout: Duration::from_millis(100),
        ..PoolConfig::default()
    };
    let pool = start_pool(fixture("mixed"), config).await;
    let mut peak = 0;
    for _ in 0..40 {
        let err = render(&pool, "Alloc", json!({})).await.unwrap_err();
        assert!(
            matches!(
                err,
                RenderError::Timeout(_) | RenderError::OutOfMemory { .. }
            ),
            "{err:?}"
        );
        peak = peak.max(proc_status("VmRSS:"));
        assert!(peak < 1_500_000, "RSS reached {peak} kB");
    }
    let html = render(&pool, "Page", json!({"rows": 1})).await.unwrap();
    assert!(html.contains("Item 0"));
    pool.shutdown().await;
}
