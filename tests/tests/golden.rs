//! Golden render tests: fixture bundles built from the real react and
//! react-dom packages, rendered through the pool, compared byte for byte
//! with what Node's react-dom/server produces for the same bundle and props.

use e2e::{fixture, fixture_path, node_html, start_pool, test_config, Job};
use pool::{RenderError, RenderRequest};
use serde_json::json;
use std::collections::HashSet;

async fn render(pool: &pool::RenderPool, job: &Job) -> Result<String, RenderError> {
    pool.render(RenderRequest::new(&job.component, job.props.to_string()))
        .await
        .map(|o| o.html)
}

/// Renders every job through a fresh pool and compares with Node.
async fn assert_matches_node(bundle: &str, jobs: &[Job]) {
    let expected = node_html(&fixture_path(bundle), jobs);
    let pool = start_pool(fixture(bundle), test_config(1)).await;
    for (job, expected) in jobs.iter().zip(expected) {
        let html = render(&pool, job)
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e:?}", job.component));
        assert!(!html.is_empty());
        assert_eq!(html, expected, "{} differs from node", job.component);
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn basic_components_match_node() {
    let items: Vec<_> = (0..50)
        .map(|i| json!({"id": format!("item-{i}"), "label": format!("Item <{i}> & co")}))
        .collect();
    assert_matches_node(
        "basic",
        &[
            Job::new("Hello", json!({"name": "Ada"})),
            Job::new("Hello", json!({})),
            Job::new("List", json!({ "items": items })),
            Job::new("Counter", json!({"start": 41})),
            Job::new("Themed", json!({"theme": "dark"})),
            Job::new(
                "Echo",
                json!({"a": [1, 2.5, null, true], "s": "</script><!--"}),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn non_ascii_props_and_output_match_node() {
    assert_matches_node(
        "basic",
        &[
            Job::new(
                "Unicode",
                json!({"text": "Grüße, 世界! 🎉 \u{2028} مرحبا 𝔘"}),
            ),
            Job::new("Hello", json!({"name": "Zoë 👩‍👩‍👧"})),
        ],
    )
    .await;
}

#[tokio::test]
async fn promise_result_settles_through_microtasks_and_timers() {
    assert_matches_node("basic", &[Job::new("Async", json!({"title": "later"}))]).await;
}

#[tokio::test]
async fn one_megabyte_of_props_matches_node() {
    let rows: Vec<_> = (0..9_000)
        .map(|i| json!({"id": i, "text": format!("row {i} with some text ✓ {}", "x".repeat(80))}))
        .collect();
    let props = json!({ "rows": rows });
    assert!(props.to_string().len() > 1_000_000);
    assert_matches_node("basic", &[Job::new("Echo", props)]).await;
}

#[tokio::test]
async fn to_locale_string_fast_path_matches_node() {
    let items: Vec<_> = (0..200)
        .map(|i| {
            let currency = ["USD", "EUR", "JPY", "GBP"][i % 4];
            json!({"id": i, "name": format!("p{i}"), "price": i as f64 * 1234.567 + 0.5,
                   "currency": currency})
        })
        .collect();
    let mut jobs = Vec::new();
    for locale in ["en-US", "de-DE", "fr-FR", "ja-JP", "ar-EG", "hi-IN"] {
        jobs.push(Job::new(
            "PriceList",
            json!({"items": items, "locale": locale}),
        ));
    }
    assert_matches_node("intl", &jobs).await;
}

#[tokio::test]
async fn benchmark_pages_match_node() {
    assert_matches_node(
        "pages",
        &[
            Job::new("Table", json!({})),
            Job::new("Divs", json!({})),
            Job::new("App", json!({})),
        ],
    )
    .await;
}

#[tokio::test]
async fn default_browser_build_of_react_dom_server_loads_and_matches_node() {
    // react-dom/server's browser entry needs MessageChannel at load.
    assert_matches_node(
        "browser-entry",
        &[Job::new(
            "Hello",
            json!({"name": "browser", "items": ["a", "b"]}),
        )],
    )
    .await;
}

#[tokio::test]
async fn throwing_component_returns_error_data_and_pool_stays_healthy() {
    let pool = start_pool(fixture("basic"), test_config(1)).await;
    let err = render(&pool, &Job::new("Throws", json!({})))
        .await
        .unwrap_err();
    let RenderError::Js(js) = err else {
        panic!("expected a JS error, got {err:?}")
    };
    assert_eq!(js.name, "Error");
    assert_eq!(js.message, "boom from component");
    let stack = js.stack.expect("stack captured");
    assert!(stack.starts_with("Error: boom from component\n"), "{stack}");
    assert!(
        stack.contains("basic.js:"),
        "stack names the bundle: {stack}"
    );

    let job = Job::new("Hello", json!({"name": "after"}));
    let expected = node_html(&fixture_path("basic"), std::slice::from_ref(&job));
    assert_eq!(render(&pool, &job).await.unwrap(), expected[0]);
    pool.shutdown().await;
}

#[tokio::test]
async fn unknown_component_and_bad_props_are_typed_errors() {
    let pool = start_pool(fixture("basic"), test_config(1)).await;
    let err = render(&pool, &Job::new("Nope", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::UnknownComponent(n) if n == "Nope"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Component \"Nope\" not registered");

    let err = pool
        .render(RenderRequest::new("Hello", "{not json"))
        .await
        .unwrap_err();
    assert!(matches!(err, RenderError::InvalidProps(_)), "{err:?}");
    pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_renders_use_every_worker_and_never_mix_results() {
    let workers = 3;
    let pool = start_pool(fixture("basic"), test_config(workers)).await;
    let jobs: Vec<Job> = (0..300)
        .map(|i| Job::new("Hello", json!({"name": format!("user-{i}")})))
        .collect();
    let expected = node_html(&fixture_path("basic"), &jobs);
    let tasks: Vec<_> = jobs
        .iter()
        .map(|job| {
            let pool = pool.clone();
            let request = RenderRequest::new(&job.component, job.props.to_string());
            tokio::spawn(async move { pool.render(request).await })
        })
        .collect();
    let mut used = HashSet::new();
    for (task, expected) in tasks.into_iter().zip(expected) {
        let output = task.await.unwrap().expect("render ok");
        used.insert(output.worker);
        assert_eq!(output.html, expected);
    }
    assert_eq!(used.len(), workers, "every worker took jobs: {used:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn render_after_ten_thousand_renders_is_still_correct() {
    let pool = start_pool(fixture("basic"), test_config(1)).await;
    let jobs = [
        Job::new(
            "List",
            json!({"items": [{"id": 1, "label": "one"}, {"id": 2, "label": "two"}]}),
        ),
        Job::new("Counter", json!({"start": 3})),
    ];
    let expected = node_html(&fixture_path("basic"), &jobs);
    for i in 0..10_000 {
        let job = &jobs[i % 2];
        let html = render(&pool, job).await.unwrap();
        if i % 1000 == 0 {
            assert_eq!(html, expected[i % 2]);
        }
    }
    for (job, expected) in jobs.iter().zip(&expected) {
        assert_eq!(&render(&pool, job).await.unwrap(), expected);
    }
    pool.shutdown().await;
}
