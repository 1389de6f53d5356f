//! Backpressure and recycling at the pool: queue timeout, cancelled jobs,
//! and isolates replaced after a number of renders.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{fixture, fixture_path, node_html, Job};
use pool::{
    PoolConfig, PoolObserver, RenderError, RenderOutcome, RenderPool, RenderRequest, ReplaceReason,
};
use serde_json::json;

#[derive(Default)]
struct Counts {
    cancelled: AtomicUsize,
    replaced: AtomicUsize,
}

impl PoolObserver for Counts {
    fn render_finished(&self, _worker: usize, outcome: RenderOutcome, _t: Duration) {
        if outcome == RenderOutcome::Cancelled {
            self.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn isolate_replaced(&self, _worker: usize, _reason: ReplaceReason) {
        self.replaced.fetch_add(1, Ordering::SeqCst);
    }
}

async fn pool_with(bundle: &str, config: PoolConfig, counts: Arc<Counts>) -> RenderPool {
    let pool = RenderPool::builder(fixture(bundle))
        .config(config)
        .observer(counts)
        .start()
        .unwrap();
    pool.wait_ready().await.unwrap();
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_waiting_past_the_queue_timeout_are_refused_and_dropped_callers_cancel() {
    let counts = Arc::new(Counts::default());
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 0,
        render_timeout: Duration::from_millis(400),
        queue_timeout: Duration::from_millis(100),
        ..PoolConfig::default()
    };
    let pool = pool_with("loop", config, counts.clone()).await;

    // The worker is stuck for 400 ms; the next job waits longer than 100 ms.
    let busy = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.render(RenderRequest::new("Loop", "{}")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let waited = pool
        .render(RenderRequest::new("Loop", "{}"))
        .await
        .unwrap_err();
    assert!(
        matches!(waited, RenderError::QueueTimeout(d) if d >= Duration::from_millis(100)),
        "{waited:?}"
    );
    assert!(matches!(busy.await.unwrap(), Err(RenderError::Timeout(_))));

    // A caller that gives up while its job is queued: the job is skipped.
    let busy = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.render(RenderRequest::new("Loop", "{}")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(20),
        pool.render(RenderRequest::new("Loop", "{}")),
    )
    .await;
    assert!(gave_up.is_err(), "the caller timed out first");
    assert!(matches!(busy.await.unwrap(), Err(RenderError::Timeout(_))));
    // The next job runs; by then the cancelled one has been skipped.
    let next = pool
        .render(RenderRequest {
            timeout: Some(Duration::from_millis(50)),
            ..RenderRequest::new("Loop", "{}")
        })
        .await;
    assert!(matches!(next, Err(RenderError::Timeout(d)) if d == Duration::from_millis(50)));
    // Both the job refused at the queue timeout and the one whose caller
    // gave up were skipped by the worker, never rendered.
    assert_eq!(counts.cancelled.load(Ordering::SeqCst), 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn isolates_are_recycled_after_max_renders_without_failing_renders() {
    let counts = Arc::new(Counts::default());
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 3,
        max_renders_per_isolate: 10,
        ..PoolConfig::default()
    };
    let pool = pool_with("basic", config, counts.clone()).await;
    let job = Job::new("Hello", json!({"name": "recycled"}));
    let expected = node_html(&fixture_path("basic"), std::slice::from_ref(&job)).remove(0);
    for _ in 0..50 {
        let html = pool
            .render(RenderRequest::new("Hello", job.props.to_string()))
            .await
            .unwrap()
            .html;
        assert_eq!(html, expected);
    }
    // 50 served renders, 10 per isolate (warm-up renders do not count).
    assert_eq!(counts.replaced.load(Ordering::SeqCst), 5);
    pool.shutdown().await;
}

#[tokio::test]
async fn per_request_deadline_is_clamped_to_the_maximum() {
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 0,
        max_render_timeout: Duration::from_millis(150),
        ..PoolConfig::default()
    };
    let pool = pool_with("loop", config, Arc::new(Counts::default())).await;
    let started = std::time::Instant::now();
    let err = pool
        .render(RenderRequest {
            timeout: Some(Duration::from_secs(60)),
            ..RenderRequest::new("Loop", "{}")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, RenderError::Timeout(d) if d == Duration::from_millis(150)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_is_refused_at_the_queue_timeout_not_when_its_turn_comes() {
    let config = PoolConfig {
        workers: 1,
        warmup_renders: 0,
        render_timeout: Duration::from_millis(1500),
        queue_timeout: Duration::from_millis(200),
        ..PoolConfig::default()
    };
    let counts = Arc::new(Counts::default());
    let pool = pool_with("loop", config, counts.clone()).await;
    let busy = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.render(RenderRequest::new("Loop", "{}")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let err = pool
        .render(RenderRequest::new("Loop", "{}"))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, RenderError::QueueTimeout(_)), "{err:?}");
    assert!(
        waited < Duration::from_millis(900),
        "answered after {waited:?}"
    );
    assert!(matches!(busy.await.unwrap(), Err(RenderError::Timeout(_))));
    // The abandoned job is skipped, not rendered.
    pool.render(RenderRequest {
        timeout: Some(Duration::from_millis(10)),
        ..RenderRequest::new("Loop", "{}")
    })
    .await
    .unwrap_err();
    assert_eq!(counts.cancelled.load(Ordering::SeqCst), 1);
    pool.shutdown().await;
}
