//! Several bundles in one pool: a bundle added while the pool serves
//! another is warmed on every worker before any request reaches it, a
//! request names the bundle it renders with, and switching between bundles
//! under a steady load fails no request and serves none cold.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bundles::{Bundle, ContentHash};
use e2e::{fixture, fixture_path, node_html, start_pool, test_config, Job};
use pool::{RenderError, RenderPool, RenderRequest, StartError};
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
        "the first stays"
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

/// Ten switches between two bundles under a steady load: every request
/// answers from the bundle it named, none fails, and none reaches an
/// isolate before its warm-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_bundles_under_load_fails_nothing_and_serves_nothing_cold() {
    let first = counting_bundle("v0");
    let pool = pool_on(first.clone()).await;
    // What the service's app table would hold: the bundle requests go to.
    let current = Arc::new(RwLock::new(first.hash()));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (pool, current, stop, served) = (
                pool.clone(),
                Arc::clone(&current),
                Arc::clone(&stop),
                Arc::clone(&served),
            );
            tokio::spawn(async move {
                let mut problems = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let target = *current.read().unwrap();
                    match pool.render(request(Some(target))).await {
                        Ok(output) => {
                            let (label, renders) = parse(&output.html);
                            let expected =
                                pool.bundle_by_hash(&target).map(|b| b.name().to_owned());
                            if expected.is_some_and(|name| name != format!("{label}.js")) {
                                problems.push(format!("{target:?} answered {}", output.html));
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

    let mut previous = first.hash();
    for version in 1..=10 {
        let next = counting_bundle(&format!("v{version}"));
        let hash = next.hash();
        pool.add_bundle(next, Vec::new()).await.unwrap();
        *current.write().unwrap() = hash;
        // Requests that read the old pointer are on their way: let them
        // reach the pool before the old bundle goes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if previous != first.hash() {
            assert!(pool.remove_bundle(&previous));
        }
        previous = hash;
    }
    stop.store(true, Ordering::Relaxed);
    let mut problems = Vec::new();
    for task in load {
        problems.extend(task.await.unwrap());
    }
    assert!(problems.is_empty(), "{problems:?}");
    assert!(served.load(Ordering::Relaxed) > 100, "the load ran");
    assert_eq!(pool.bundles().len(), 2, "the first and the last");
    pool.shutdown().await;
}

/// `<p>LABEL N</p>` -> (LABEL, N).
fn parse(html: &str) -> (String, usize) {
    let inner = html.trim_start_matches("<p>").trim_end_matches("</p>");
    let (label, renders) = inner.split_once(' ').expect("label and count");
    (label.to_owned(), renders.parse().expect("a count"))
}
