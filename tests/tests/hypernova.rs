//! The Hypernova batch protocol against the real server.

use e2e::server::{post, ServerSetup, TestServer};
use e2e::{fixture_path, node_html, Job};
use serde_json::{json, Value};

fn batch(server: &TestServer, body: &str) -> e2e::server::Reply {
    post(&server.url("/batch"), body, None)
}

/// The keys of a JSON object, in document order.
fn keys(value: &Value) -> Vec<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

/// What `Object.keys(JSON.parse(body))` gives in Node.
fn node_key_order(body: &str) -> Vec<String> {
    let output = std::process::Command::new("node")
        .args([
            "-e",
            "process.stdout.write(JSON.stringify(Object.keys(JSON.parse(process.argv[1]))))",
        ])
        .arg(body)
        .output()
        .expect("node runs");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

const RESULT_KEYS: [&str; 7] = [
    "name",
    "html",
    "meta",
    "duration",
    "statusCode",
    "success",
    "error",
];

#[test]
fn success_unknown_and_throwing_jobs_have_the_reference_shape() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let body = json!({
        "ok": {"name": "Hello", "data": {"name": "nova"}, "metadata": {"x": 1}},
        "missing": {"name": "NotThere", "data": {}},
        "throws": {"name": "Throws", "data": {}},
    })
    .to_string();
    let reply = batch(&server, &body);
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    let response = reply.json();
    assert_eq!(keys(&response), ["success", "error", "results"]);
    assert_eq!(response["success"], true);
    assert!(response["error"].is_null());
    let results = &response["results"];
    assert_eq!(keys(results), ["ok", "missing", "throws"]);

    let expected = node_html(
        &fixture_path("basic"),
        &[Job::new("Hello", json!({"name": "nova"}))],
    );
    let ok = &results["ok"];
    assert_eq!(keys(ok), RESULT_KEYS);
    assert_eq!(ok["name"], "Hello");
    assert_eq!(ok["html"].as_str().unwrap(), expected[0]);
    assert_eq!(ok["meta"], json!({}));
    assert!(ok["duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(ok["statusCode"], 200);
    assert_eq!(ok["success"], true);
    assert!(ok["error"].is_null());

    let missing = &results["missing"];
    assert_eq!(keys(missing), RESULT_KEYS);
    assert!(missing["html"].is_null());
    assert_eq!(missing["statusCode"], 404);
    assert_eq!(missing["success"], false);
    assert_eq!(missing["error"]["name"], "ReferenceError");
    assert_eq!(
        missing["error"]["message"],
        "Component \"NotThere\" not registered"
    );
    assert_eq!(
        missing["error"]["stack"][0],
        "ReferenceError: Component \"NotThere\" not registered"
    );

    let throws = &results["throws"];
    assert!(throws["html"].is_null());
    assert_eq!(throws["statusCode"], 500);
    assert_eq!(throws["success"], false);
    assert_eq!(throws["error"]["name"], "Error");
    assert_eq!(throws["error"]["message"], "boom from component");
    assert!(throws["error"]["stack"].is_array());
}

#[test]
fn non_error_throws_are_reported_like_the_reference() {
    let server = TestServer::start(fixture_path("throw-values"), ServerSetup::default());
    let reply = batch(&server, r#"{"s": {"name": "ThrowString", "data": {}}}"#).json();
    assert_eq!(
        reply["results"]["s"]["error"],
        json!({"type": "Error", "name": "Error", "message": "plain string thrown", "stack": [""]})
    );
    assert_eq!(reply["results"]["s"]["statusCode"], 500);
}

#[test]
fn stacks_are_split_like_the_reference_with_debug_on() {
    let server = TestServer::start(
        fixture_path("basic"),
        ServerSetup {
            debug_errors: true,
            ..ServerSetup::default()
        },
    );
    let reply = batch(&server, r#"{"t": {"name": "Throws", "data": {}}}"#).json();
    let stack: Vec<&str> = reply["results"]["t"]["error"]["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(stack[0], "Error: boom from component");
    assert!(stack.len() > 1 && stack[1].starts_with("at "), "{stack:?}");
}

#[test]
fn empty_malformed_and_oversized_batches() {
    let server = TestServer::start(
        fixture_path("basic"),
        ServerSetup {
            max_body_bytes: 5_000,
            ..ServerSetup::default()
        },
    );
    let empty = batch(&server, "{}");
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, r#"{"success":true,"error":null,"results":{}}"#);

    // An empty body is an empty batch, as the reference's body parser has it.
    let empty_body = batch(&server, "");
    assert_eq!(empty_body.status, 200);
    assert_eq!(
        empty_body.body,
        r#"{"success":true,"error":null,"results":{}}"#
    );
    assert_eq!(empty_body.content_type, "application/json; charset=utf-8");

    for bad in ["{nope", "\"a string\"", "42"] {
        let reply = batch(&server, bad);
        assert_eq!(reply.status, 400, "{bad:?} -> {}", reply.body);
        assert_eq!(reply.body, "");
    }
    let big = json!({"a": {"name": "Echo", "data": {"s": "x".repeat(6_000)}}}).to_string();
    let reply = batch(&server, &big);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body, "");
}

#[test]
fn tokens_of_every_style_come_back_in_reference_order() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let tokens = [
        "header",
        "10",
        "7d9f8a1e-3c2b-4f6a-9e8d-1a2b3c4d5e6f",
        "2",
        "0",
        "01",
        "footer",
        "1",
        "-1",
        "4294967295",
        "4294967294",
    ];
    let mut jobs = serde_json::Map::new();
    for (i, token) in tokens.iter().enumerate() {
        jobs.insert(
            (*token).to_owned(),
            json!({"name": "Hello", "data": {"name": format!("job {i}")}}),
        );
    }
    let body = Value::Object(jobs).to_string();
    let reply = batch(&server, &body).json();
    let results = &reply["results"];
    assert_eq!(keys(results), node_key_order(&body));
    let expected = node_html(
        &fixture_path("basic"),
        &(0..tokens.len())
            .map(|i| Job::new("Hello", json!({"name": format!("job {i}")})))
            .collect::<Vec<_>>(),
    );
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(
            results[*token]["html"].as_str().unwrap(),
            expected[i],
            "token {token}"
        );
    }
}

#[test]
fn a_large_batch_of_async_jobs_renders_every_job() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let jobs: serde_json::Map<String, Value> = (0..64)
        .map(|i| {
            (
                i.to_string(),
                json!({"name": "Async", "data": {"title": format!("t{i}")}}),
            )
        })
        .collect();
    let reply = batch(&server, &Value::Object(jobs).to_string()).json();
    let results = reply["results"].as_object().unwrap();
    assert_eq!(results.len(), 64);
    for (token, result) in results {
        assert_eq!(result["statusCode"], 200);
        assert!(result["html"]
            .as_str()
            .unwrap()
            .contains(&format!("t{token}")));
    }
}
