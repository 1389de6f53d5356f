//! Several bundles in one pool: a bundle added while the pool serves
//! another is warmed on every worker before any request reaches it, a
//! request names the bundle it renders with, and switching between bundles
//! under a steady load fails no request and serves none cold.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bundles::{Bundle, ContentHash};
use e2e::{fixture, fixture_path, node_html, start_pool, test_config, Job};
use pool::{
    PoolObserver, RenderError, RenderPool, RenderRequest, ReplaceReason, StartError, DEFAULT_APP,
};
use serde_json::json;

/// Warm-up renders per isolate in these pools.
const WARMUP: usize = 5;

/// A bundle whose page says which bundle it is and how many renders its
/// isolate has done (warm-up ones included).
fn counting_bundle(label: &str) -> Bundle {
    let source = format!(
        "let renders = 0;\n\
         SsrPool.register('Page', () => `<p>{label} ${{++renders}}</p>`);"
    );
    Bundle::from_bytes(format!("{label}.js"), source, 1 << 20).unwrap()
}

fn request(bundle: Option<ContentHash>) -> RenderRequest {
    RenderRequest {
        bundle,
        ..RenderRequest::new("Page", "{}")
    }
}

async fn pool_on(bundle: Bundle) -> RenderPool {
    let config = pool::PoolConfig {
        warmup_renders: WARMUP,
        ..test_config(2)
    };
    start_pool(bundle, config).await
}

#[tokio::test]
async fn a_request_names_the_bundle_it_renders_with() {
    let pool = start_pool(fixture("basic"), test_config(2)).await;
    let pages = fixture("pages");
    let hash = pages.hash();
    pool.add_bundle(pages, Vec::new()).await.unwrap();
    assert_eq!(pool.bundles().len(), 2);

    let jobs = [Job::new("Table", json!({}))];
    let expected = node_html(&fixture_path("pages"), &jobs);
    let html = pool
        .render(RenderRequest {
            bundle: Some(hash),
            ..RenderRequest::new("Table", "{}")
        })
        .await
        .unwrap()
        .html;
    assert_eq!(html, expected[0]);

    // The first bundle still answers requests that name none.
    let basic = node_html(
        &fixture_path("basic"),
        &[Job::new("Hello", json!({"name": "Ada"}))],
    );
    let html = pool
        .render(RenderRequest::new("Hello", r#"{"name":"Ada"}"#))
        .await
        .unwrap()
        .html;
    assert_eq!(html, basic[0]);

    let unknown = ContentHash::of(b"no such bundle");
    let error = pool.render(request(Some(unknown))).await.unwrap_err();
    assert!(
        matches!(error, RenderError::UnknownBundle(h) if h == unknown),
        "{error}"
    );

    assert!(pool.remove_bundle(&hash));
    let error = pool
        .render(RenderRequest {
            bundle: Some(hash),
            ..RenderRequest::new("Table", "{}")
        })
        .await
        .unwrap_err();
    assert!(matches!(error, RenderError::UnknownBundle(_)), "{error}");
    assert!(
        !pool.remove_bundle(&pool.bundle().hash()),
        "a bundle an app points at stays"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_bundle_that_cannot_load_is_refused_and_nothing_changes() {
    let pool = pool_on(counting_bundle("a")).await;
    let broken = Bundle::from_bytes("broken.js", "function (", 1 << 10).unwrap();
    let error = pool.add_bundle(broken, Vec::new()).await.unwrap_err();
    assert!(matches!(error, StartError::Syntax { .. }), "{error}");
    let empty = Bundle::from_bytes("empty.js", "var x = 1;", 1 << 10).unwrap();
    let error = pool.add_bundle(empty, Vec::new()).await.unwrap_err();
    assert!(matches!(error, StartError::NoComponents { .. }), "{error}");
    assert_eq!(pool.bundles(), vec![pool.bundle().hash()]);
    let html = pool.render(request(None)).await.unwrap().html;
    assert!(html.starts_with("<p>a "), "{html}");
    pool.shutdown().await;
}

/// Ten switches of the default app under a steady load: the pool flips
/// the app and drops the old bundle at once, and still no request fails
/// (each is queued on the bundle its app pointed at when it arrived) and
/// none reaches an isolate before its warm-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_bundles_under_load_fails_nothing_and_serves_nothing_cold() {
    let first = counting_bundle("v0");
    let pool = pool_on(first.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (pool, stop, served) = (pool.clone(), Arc::clone(&stop), Arc::clone(&served));
            tokio::spawn(async move {
                let mut problems = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match pool.render(request(None)).await {
                        Ok(output) => {
                            let (label, renders) = parse(&output.html);
                            if !label.starts_with('v') {
                                problems.push(format!("answered {}", output.html));
                            }
                            if renders <= WARMUP {
                                problems.push(format!("cold: {}", output.html));
                            }
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => problems.push(error.to_string()),
                    }
                }
                problems
            })
        })
        .collect();

    for version in 1..=10 {
        let next = counting_bundle(&format!("v{version}"));
        let hash = next.hash();
        pool.add_bundle(next, Vec::new()).await.unwrap();
        let previous = pool.set_app(DEFAULT_APP, &hash).unwrap().unwrap();
        assert!(pool.remove_bundle(&previous));
        let html = pool.render(request(None)).await.unwrap().html;
        assert_eq!(parse(&html).0, format!("v{version}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut problems = Vec::new();
    for task in load {
        problems.extend(task.await.unwrap());
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert!(served.load(Ordering::Relaxed) > 100, "the load ran");
    assert_eq!(pool.bundles().len(), 1, "only the last is kept");
    pool.shutdown().await;
}

/// Counts isolates dropped for the memory budget.
#[derive(Default)]
struct Parked(AtomicUsize);

impl PoolObserver for Parked {
    fn isolate_replaced(&self, _worker: usize, reason: ReplaceReason) {
        if reason == ReplaceReason::MemoryBudget {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A worker over its memory budget keeps the isolate in use and drops the
/// least recently used idle ones, building them again when their bundle
/// is next asked for: every render still answers as Node does.
#[tokio::test]
async fn a_worker_over_its_memory_budget_drops_idle_isolates_and_rebuilds_them() {
    let parked = Arc::new(Parked::default());
    let config = pool::PoolConfig {
        // Smaller than any isolate: only the one in use is kept.
        worker_memory_budget_mb: 1,
        replacement_warmup_renders: 2,
        ..test_config(1)
    };
    let pool = RenderPool::builder(fixture("basic"))
        .config(config)
        .observer(parked.clone())
        .start()
        .unwrap();
    pool.wait_ready().await.unwrap();
    let pages = fixture("pages");
    let (basic_hash, pages_hash) = (pool.bundle().hash(), pages.hash());
    pool.add_bundle(pages, Vec::new()).await.unwrap();
    assert_eq!(
        parked.0.load(Ordering::Relaxed),
        1,
        "adding parks the idle one"
    );

    let hello = node_html(
        &fixture_path("basic"),
        &[Job::new("Hello", json!({"name": "Ada"}))],
    );
    let table = node_html(&fixture_path("pages"), &[Job::new("Table", json!({}))]);
    for round in 0..3 {
        for (hash, component, props, expected) in [
            (basic_hash, "Hello", r#"{"name":"Ada"}"#, &hello[0]),
            (pages_hash, "Table", "{}", &table[0]),
        ] {
            let request = RenderRequest {
                bundle: Some(hash),
                ..RenderRequest::new(component, props)
            };
            let html = pool.render(request).await.unwrap().html;
            assert_eq!(&html, expected, "round {round}: {component}");
        }
    }
    // Each switch of bundle parked the other one.
    assert_eq!(parked.0.load(Ordering::Relaxed), 1 + 6);
    pool.shutdown().await;
}

/// `<p>LABEL N</p>` -> (LABEL, N).
fn parse(html: &str) -> (String, usize) {
    let inner = html.trim_start_matches("<p>").trim_end_matches("</p>");
    let (label, renders) = inner.split_once(' ').expect("label and count");
    (label.to_owned(), renders.parse().expect("a count"))
}

/// A worker adding a bundle runs its warm-up renders between the jobs of
/// the bundles it serves: a render of the served bundle is answered while
/// the new one still warms up (one worker, so nothing else could take it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_warms_up_between_the_renders_of_the_others() {
    let pool = start_pool(
        counting_bundle("served"),
        pool::PoolConfig {
            warmup_renders: 20,
            ..test_config(1)
        },
    )
    .await;
    // Twenty warm-up renders of 50 ms each: a second of warm-up.
    let slow = Bundle::from_bytes(
        "slow.js",
        "SsrPool.register('Slow', () => { const t = Date.now(); while (Date.now() - t < 50) {} return '<p>slow</p>'; });",
        1 << 10,
    )
    .unwrap();
    let adding = tokio::spawn({
        let pool = pool.clone();
        async move { pool.add_bundle(slow, Vec::new()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let html = pool.render(request(None)).await.unwrap().html;
    assert!(html.starts_with("<p>served "), "{html}");
    assert!(
        !adding.is_finished(),
        "the render waited for the whole warm-up"
    );
    adding.await.unwrap().unwrap();
    assert_eq!(pool.bundles().len(), 2);
    pool.shutdown().await;
}

/// A warm-up render that poisons the new isolate (a loop past its deadline)
/// gets it replaced by a fresh one before the bundle is served; the
/// bundle's other components render.
#[tokio::test]
async fn a_warm_up_that_poisons_the_isolate_of_an_added_bundle_leaves_a_fresh_one() {
    let pool = start_pool(
        counting_bundle("served"),
        pool::PoolConfig {
            render_timeout: Duration::from_millis(50),
            termination_grace: Duration::from_millis(50),
            ..test_config(1)
        },
    )
    .await;
    let looping = Bundle::from_bytes(
        "looping.js",
        "SsrPool.register('Loop', () => { for (;;) {} });\n\
         SsrPool.register('Page', () => '<p>fine</p>');",
        1 << 10,
    )
    .unwrap();
    let hash = looping.hash();
    pool.add_bundle(looping, Vec::new()).await.unwrap();
    let html = pool
        .render(RenderRequest {
            bundle: Some(hash),
            ..RenderRequest::new("Page", "{}")
        })
        .await
        .unwrap()
        .html;
    assert_eq!(html, "<p>fine</p>");
    pool.shutdown().await;
}

/// Two bundles added at once to a worker over its memory budget: the
/// budget never parks an isolate that is still warming up, so both adds
/// finish and both bundles render.
#[tokio::test]
async fn bundles_added_at_once_over_the_memory_budget_both_warm_up() {
    let config = pool::PoolConfig {
        worker_memory_budget_mb: 1,
        warmup_renders: 20,
        ..test_config(1)
    };
    let pool = start_pool(counting_bundle("first"), config).await;
    let (a, b) = (counting_bundle("a"), counting_bundle("b"));
    let (hash_a, hash_b) = (a.hash(), b.hash());
    let both = async {
        tokio::join!(
            pool.add_bundle(a, Vec::new()),
            pool.add_bundle(b, Vec::new())
        )
    };
    let (added_a, added_b) = tokio::time::timeout(Duration::from_secs(60), both)
        .await
        .expect("both adds answer");
    added_a.unwrap();
    added_b.unwrap();
    for (hash, label) in [(hash_a, "a"), (hash_b, "b")] {
        let html = pool.render(request(Some(hash))).await.unwrap().html;
        assert_eq!(parse(&html).0, label);
    }
    pool.shutdown().await;
}
