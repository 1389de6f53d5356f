//! The V8 code cache end to end: produced after warm-up, consumed by later
//! isolates, and every bad cache is a miss or a rejection that gets fixed.

use std::sync::Arc;

use e2e::{fixture, fixture_path, node_html, Job};
use pool::{CacheOutcome, PoolConfig, RenderPool, RenderRequest};
use serde_json::json;
use ssr_api::codecache::DiskCodeCache;

const FLAGS: &str = pool::platform::DEFAULT_V8_FLAGS;

fn store(dir: &std::path::Path, flags: &str) -> Arc<DiskCodeCache> {
    Arc::new(DiskCodeCache::open(dir, pool::platform::v8_version(), flags).unwrap())
}

/// Starts a one-worker pool on the basic fixture with `store`, renders
/// Hello, and returns the cache outcome and the HTML.
async fn start_and_render(store: Arc<DiskCodeCache>) -> (CacheOutcome, String) {
    let pool = RenderPool::builder(fixture("basic"))
        .config(PoolConfig {
            workers: 1,
            warmup_renders: 20,
            ..PoolConfig::default()
        })
        .code_cache(store)
        .start()
        .unwrap();
    pool.wait_ready().await.unwrap();
    let outcome = pool.status().first_load.unwrap().cache;
    let html = pool
        .render(RenderRequest::new("Hello", r#"{"name":"cache"}"#))
        .await
        .unwrap()
        .html;
    pool.shutdown().await;
    (outcome, html)
}

fn expected_html() -> String {
    node_html(
        &fixture_path("basic"),
        &[Job::new("Hello", json!({"name": "cache"}))],
    )
    .remove(0)
}

fn cache_file(store: &DiskCodeCache) -> std::path::PathBuf {
    pool::platform::init(FLAGS).unwrap();
    let key = store.key(
        &fixture("basic").hash(),
        pool::platform::cached_data_version_tag(),
    );
    store.cache().path_of(&key)
}

#[tokio::test]
async fn produced_cache_is_consumed_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let expected = expected_html();
    let (first, html) = start_and_render(store(dir.path(), FLAGS)).await;
    assert_eq!(first, CacheOutcome::Miss);
    assert_eq!(html, expected);
    let file = cache_file(&store(dir.path(), FLAGS));
    assert!(file.exists(), "the cache file was written after warm-up");

    let (second, html) = start_and_render(store(dir.path(), FLAGS)).await;
    assert_eq!(second, CacheOutcome::Hit);
    assert_eq!(html, expected);
}

#[tokio::test]
async fn cache_for_other_flags_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    start_and_render(store(dir.path(), FLAGS)).await;
    let (outcome, html) = start_and_render(store(dir.path(), "--some-other-flag-set")).await;
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(html, expected_html());
}

#[tokio::test]
async fn bytes_v8_rejects_are_replaced_by_a_good_cache() {
    let dir = tempfile::tempdir().unwrap();
    let disk = store(dir.path(), FLAGS);
    let key = disk.key(&fixture("basic").hash(), {
        pool::platform::init(FLAGS).unwrap();
        pool::platform::cached_data_version_tag()
    });
    // A well-formed file whose payload is not V8 code cache.
    disk.cache().put(&key, vec![0xAB; 4096]).unwrap();

    let (outcome, html) = start_and_render(store(dir.path(), FLAGS)).await;
    assert_eq!(outcome, CacheOutcome::Rejected);
    assert_eq!(html, expected_html());
    let (outcome, _) = start_and_render(store(dir.path(), FLAGS)).await;
    assert_eq!(
        outcome,
        CacheOutcome::Hit,
        "the rejected bytes were replaced"
    );
}

#[tokio::test]
async fn corrupt_cache_files_are_misses_and_rendering_goes_on() {
    type Corruption = (&'static str, fn(&mut Vec<u8>));
    let corruptions: [Corruption; 4] = [
        ("truncated", |f| f.truncate(f.len() / 2)),
        ("flipped byte", |f| {
            let i = f.len() - 10;
            f[i] ^= 0xFF
        }),
        ("wrong magic", |f| f[..8].copy_from_slice(b"NOTCACHE")),
        ("empty", |f| f.clear()),
    ];
    for (what, corrupt) in corruptions {
        let dir = tempfile::tempdir().unwrap();
        start_and_render(store(dir.path(), FLAGS)).await;
        let file = cache_file(&store(dir.path(), FLAGS));
        let mut bytes = std::fs::read(&file).unwrap();
        corrupt(&mut bytes);
        std::fs::write(&file, bytes).unwrap();
        let (outcome, html) = start_and_render(store(dir.path(), FLAGS)).await;
        assert_eq!(outcome, CacheOutcome::Miss, "{what}");
        assert_eq!(html, expected_html(), "{what}");
        let (outcome, _) = start_and_render(store(dir.path(), FLAGS)).await;
        assert_eq!(
            outcome,
            CacheOutcome::Hit,
            "{what}: a good cache replaced it"
        );
    }
    // A directory where the file should be: a miss, and the pool renders.
    let dir = tempfile::tempdir().unwrap();
    let file = cache_file(&store(dir.path(), FLAGS));
    std::fs::create_dir_all(&file).unwrap();
    let (outcome, html) = start_and_render(store(dir.path(), FLAGS)).await;
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(html, expected_html());
}

#[tokio::test]
async fn warm_build_step_makes_the_next_pool_start_warm() {
    let dir = tempfile::tempdir().unwrap();
    let config = ssr_api::settings::ServiceConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..ssr_api::settings::ServiceConfig::example()
    };
    let pool = e2e::warm_then_start(&config).await;
    assert_eq!(pool.status().first_load.unwrap().cache, CacheOutcome::Hit);
    let html = pool
        .render(RenderRequest::new(
            ssr_api::example::EXAMPLE_COMPONENT,
            ssr_api::example::EXAMPLE_PROPS,
        ))
        .await
        .unwrap()
        .html;
    let expected = node_html(
        &e2e::repo_root().join("examples/app/dist/server.js"),
        &[Job::new(
            ssr_api::example::EXAMPLE_COMPONENT,
            serde_json::from_str(ssr_api::example::EXAMPLE_PROPS).unwrap(),
        )],
    )
    .remove(0);
    assert_eq!(html, expected);
    pool.shutdown().await;
}
