//! Garbage collection off the render path: a worker collects its isolate's
//! young generation between renders (`PoolConfig::idle_gc`; here when it
//! has nothing to do, and between warm-up renders), and the pages rendered
//! between those collections are Node's, byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{fixture, fixture_path, node_html, test_config, Job};
use pool::{PoolConfig, PoolObserver, RenderPool, RenderRequest, Sample};
use serde_json::json;

#[derive(Default)]
struct IdleCollections(AtomicUsize);

impl PoolObserver for IdleCollections {
    fn idle_collection(&self, _worker: usize) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Renders the divs page (about 230 KB of HTML, and several times that in
/// garbage, per render) 40 times, one at a time with pauses between them;
/// the collections idle workers ran and the pages.
async fn divs_with_pauses(config: PoolConfig) -> (usize, Vec<String>) {
    let collections = Arc::new(IdleCollections::default());
    let pool = RenderPool::builder(fixture("pages"))
        .config(config)
        .observer(collections.clone())
        .start()
        .expect("pool starts");
    pool.wait_ready().await.expect("pool becomes ready");
    let mut pages = Vec::new();
    for _ in 0..40 {
        let page = pool.render(RenderRequest::new("Divs", "{}")).await;
        pages.push(page.expect("divs renders").html);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    pool.shutdown().await;
    (collections.0.load(Ordering::Relaxed), pages)
}

#[tokio::test]
async fn idle_workers_collect_the_young_generation_between_renders() {
    let job = Job::new("Divs", json!({}));
    let expected = node_html(&fixture_path("pages"), &[job]).remove(0);
    let (collections, pages) = divs_with_pauses(test_config(1)).await;
    assert!(collections > 0, "no idle collection in 40 renders");
    for page in pages {
        assert_eq!(page, expected);
    }
}

#[tokio::test]
async fn with_idle_gc_off_workers_collect_only_inside_renders() {
    let config = PoolConfig {
        idle_gc: false,
        ..test_config(1)
    };
    let (collections, _) = divs_with_pauses(config).await;
    assert_eq!(collections, 0);
}

/// The collections a one-worker pool ran by the time it was ready, after
/// 40 warm-up renders of the divs page.
async fn collections_during_warm_up(idle_gc: bool) -> usize {
    let collections = Arc::new(IdleCollections::default());
    let config = PoolConfig {
        warmup_renders: 40,
        idle_gc,
        ..test_config(1)
    };
    let divs = Sample {
        component: "Divs".into(),
        props: "{}".into(),
    };
    let pool = RenderPool::builder(fixture("pages"))
        .config(config)
        .samples(vec![divs])
        .observer(collections.clone())
        .start()
        .expect("pool starts");
    pool.wait_ready().await.expect("pool becomes ready");
    let count = collections.0.load(Ordering::Relaxed);
    pool.shutdown().await;
    count
}

#[tokio::test]
async fn warm_up_renders_are_collected_between_too() {
    // Several megabytes of garbage per render: without collections between
    // the warm-up renders there is at most the one before the worker sleeps.
    let collections = collections_during_warm_up(true).await;
    assert!(
        collections > 2,
        "{collections} collections in 40 warm-up renders"
    );
    assert_eq!(collections_during_warm_up(false).await, 0);
}
