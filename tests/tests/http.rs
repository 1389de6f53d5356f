//! The native HTTP API against the real server on an ephemeral port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::server::{get, post, ServerSetup, TestServer};
use e2e::{fixture_path, node_html, test_config, Job};
use serde_json::json;

fn render_body(component: &str, props: serde_json::Value) -> String {
    json!({"component": component, "props": props}).to_string()
}

#[test]
fn renders_html_matching_node_and_json_on_request() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let jobs = [
        Job::new("Hello", json!({"name": "HTTP"})),
        Job::new("Unicode", json!({"text": "ünïcødé ✓ 🎉"})),
        Job::new("Async", json!({"title": "over http"})),
    ];
    let expected = node_html(&fixture_path("basic"), &jobs);
    for (job, expected) in jobs.iter().zip(&expected) {
        let reply = post(
            &server.url("/render"),
            &render_body(&job.component, job.props.clone()),
            None,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.content_type, "text/html; charset=utf-8");
        assert_eq!(&reply.body, expected);

        let reply = post(
            &server.url("/render"),
            &render_body(&job.component, job.props.clone()),
            Some("application/json"),
        );
        assert_eq!(reply.status, 200);
        assert!(reply.content_type.starts_with("application/json"));
        let body = reply.json();
        assert_eq!(body["html"].as_str().unwrap(), expected);
        assert!(body["durationMs"].as_f64().unwrap() >= 0.0);
    }
}

fn assert_error(reply: &e2e::server::Reply, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{reply:?}"
    );
    let body = reply.json();
    assert_eq!(body["error"]["status"], status);
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    body
}

#[test]
fn request_errors_have_one_json_shape() {
    let server = TestServer::start(
        fixture_path("basic"),
        ServerSetup {
            max_body_bytes: 10_000,
            ..ServerSetup::default()
        },
    );
    let url = server.url("/render");

    let body = assert_error(
        &post(&url, &render_body("Missing", json!({})), None),
        404,
        "unknown_component",
    );
    assert_eq!(
        body["error"]["message"],
        "Component \"Missing\" not registered"
    );

    let body = assert_error(
        &post(&url, &render_body("Throws", json!({})), None),
        500,
        "render_error",
    );
    assert_eq!(body["error"]["details"]["message"], "boom from component");
    assert_eq!(body["error"]["details"]["name"], "Error");
    assert!(
        body["error"]["details"]["stack"].is_null(),
        "no stack unless debug is on"
    );

    assert_error(&post(&url, "{not json", None), 400, "bad_request");
    assert_error(&post(&url, r#"{"props": {}}"#, None), 400, "bad_request");
    assert_error(
        &post(&url, r#"{"component": "Hello", "extra": 1}"#, None),
        400,
        "bad_request",
    );
    let big = render_body("Echo", json!({"s": "x".repeat(20_000)}));
    assert_error(&post(&url, &big, None), 413, "body_too_large");

    let reply = get(&server.url("/nope"));
    assert_error(&reply, 404, "not_found");

    // The server still renders after all of that.
    let reply = post(
        &url,
        &render_body("Hello", json!({"name": "still here"})),
        None,
    );
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("still here"));
}

#[test]
fn debug_setting_puts_stacks_in_responses() {
    let server = TestServer::start(
        fixture_path("basic"),
        ServerSetup {
            debug_errors: true,
            ..ServerSetup::default()
        },
    );
    let reply = post(
        &server.url("/render"),
        &render_body("Throws", json!({})),
        None,
    );
    let body = assert_error(&reply, 500, "render_error");
    let stack = body["error"]["details"]["stack"]
        .as_str()
        .expect("stack present");
    assert!(
        stack.contains("boom from component") && stack.contains("basic.js"),
        "{stack}"
    );
}

#[test]
fn timeouts_are_504_and_a_full_queue_is_503_with_retry_after() {
    let mut config = test_config(1);
    config.queue_capacity = 1;
    config.warmup_renders = 0;
    config.render_timeout = Duration::from_millis(1500);
    let server = TestServer::start(
        fixture_path("loop"),
        ServerSetup {
            config,
            ..ServerSetup::default()
        },
    );
    let url = server.url("/render");

    let body = json!({"component": "Loop", "timeoutMs": 200}).to_string();
    let reply = post(&url, &body, None);
    assert_error(&reply, 504, "timeout");

    // One loop occupies the worker, one waits in the queue, the third is refused.
    let slow = json!({"component": "Loop"}).to_string();
    let busy: Vec<_> = (0..2)
        .map(|i| {
            let url = url.clone();
            let slow = slow.clone();
            std::thread::sleep(Duration::from_millis(100 * (i + 1)));
            std::thread::spawn(move || post(&url, &slow, None))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let reply = post(&url, &slow, None);
    assert_error(&reply, 503, "overloaded");
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    for t in busy {
        assert_error(&t.join().unwrap(), 504, "timeout");
    }
}

/// Sends `count` requests on `count` connections at once, then reads them all.
fn concurrent_raw_posts(addr: std::net::SocketAddr, bodies: &[String]) -> Vec<(u16, String)> {
    let mut streams: Vec<TcpStream> = bodies
        .iter()
        .map(|body| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            let request = format!(
                "POST /render HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    streams
        .iter_mut()
        .map(|stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).expect("response");
            let text = String::from_utf8(raw).expect("utf-8");
            let status: u16 = text[9..12].parse().expect("status code");
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            assert!(!head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"));
            (status, body.to_owned())
        })
        .collect()
}

#[test]
fn a_thousand_concurrent_requests_are_all_answered_correctly() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let jobs: Vec<Job> = (0..1000)
        .map(|i| Job::new("Hello", json!({"name": format!("client {i}")})))
        .collect();
    let expected = node_html(&fixture_path("basic"), &jobs);
    let bodies: Vec<String> = jobs
        .iter()
        .map(|j| render_body(&j.component, j.props.clone()))
        .collect();
    let replies = concurrent_raw_posts(server.addr, &bodies);
    for ((status, body), expected) in replies.into_iter().zip(expected) {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, expected);
    }
}

#[test]
fn ready_flips_only_after_warm_up_and_metrics_count_requests() {
    let mut config = test_config(2);
    config.warmup_renders = 400;
    let server = TestServer::start(
        fixture_path("pages"),
        ServerSetup {
            config,
            wait_ready: false,
            ..ServerSetup::default()
        },
    );
    assert_eq!(get(&server.url("/health")).status, 200);
    let first = get(&server.url("/ready"));
    assert_eq!(first.status, 503, "ready before warm-up: {}", first.body);
    assert_eq!(first.json()["ready"], false);
    server.wait_ready();
    let ready = get(&server.url("/ready"));
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["readyWorkers"], 2);

    for _ in 0..3 {
        assert_eq!(
            post(
                &server.url("/render"),
                &render_body("Table", json!({})),
                None
            )
            .status,
            200
        );
    }
    assert_eq!(
        post(
            &server.url("/render"),
            &render_body("Nope", json!({})),
            None
        )
        .status,
        404
    );

    // A worker answers before it is done with a job (the integrity check,
    // its bookkeeping): it may count as busy for a moment after the reply.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (metrics, samples) = loop {
        let metrics = get(&server.url("/metrics"));
        assert_eq!(metrics.status, 200);
        let samples = parse_prometheus(&metrics.body);
        let busy = samples
            .iter()
            .any(|(n, v)| n == "ssr_workers_busy" && *v != 0.0);
        if !busy || std::time::Instant::now() > deadline {
            break (metrics, samples);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(metrics.content_type.starts_with("text/plain"));
    let value = |name: &str| -> f64 {
        samples
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("metric {name} missing in\n{}", metrics.body))
            .1
    };
    assert_eq!(
        value(r#"ssr_http_requests_total{route="/render",status="200"}"#),
        3.0
    );
    assert_eq!(
        value(r#"ssr_http_requests_total{route="/render",status="404"}"#),
        1.0
    );
    assert_eq!(value("ssr_workers_ready"), 2.0);
    assert_eq!(value("ssr_workers_busy"), 0.0);
    assert_eq!(value("ssr_queue_depth"), 0.0);
    assert_eq!(
        value(r#"ssr_renders_total{outcome="unknown_component"}"#),
        1.0
    );
    // Served renders only; warm-up renders are not requests.
    assert_eq!(value(r#"ssr_renders_total{outcome="ok"}"#), 3.0);
    assert_eq!(
        value(r#"ssr_render_duration_seconds_count{outcome="ok"}"#),
        3.0
    );
    assert_eq!(value(r#"ssr_code_cache_total{outcome="miss"}"#), 2.0);

    let openapi = get(&server.url("/openapi.json"));
    assert_eq!(openapi.status, 200);
    assert!(openapi.json()["paths"]["/batch"].is_object());
}

/// Parses the Prometheus text format strictly enough to catch a broken
/// exposition: every sample line is `name{labels} value`.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            assert!(
                rest.starts_with(" HELP ") || rest.starts_with(" TYPE "),
                "bad comment line: {line}"
            );
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in: {line}")),
        };
        assert!(
            name.starts_with("ssr_") && name.chars().next().unwrap().is_ascii_alphabetic(),
            "bad name: {line}"
        );
        out.push((name.to_owned(), value));
    }
    assert!(!out.is_empty());
    out
}

#[test]
fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let server = TestServer::start(fixture_path("basic"), ServerSetup::default());
    let jobs = [
        Job::new("Hello", json!({"name": "first"})),
        Job::new("Async", json!({"title": "second"})),
        Job::new("Hello", json!({"name": "third"})),
    ];
    let expected = node_html(&fixture_path("basic"), &jobs);
    let mut pipeline = String::new();
    for (i, job) in jobs.iter().enumerate() {
        let body = render_body(&job.component, job.props.clone());
        let close = if i == jobs.len() - 1 {
            "Connection: close\r\n"
        } else {
            ""
        };
        pipeline.push_str(&format!(
            "POST /render HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{close}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(pipeline.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    // Each answer is a head with a content-length and a body; they follow
    // each other in request order.
    let mut rest = raw.as_str();
    for expected in &expected {
        let (head, after) = rest.split_once("\r\n\r\n").expect("a response head");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.parse().unwrap())
            })
            .expect("content-length");
        assert_eq!(&after[..length], expected);
        rest = &after[length..];
    }
    assert!(
        rest.is_empty(),
        "nothing after the third response: {rest:?}"
    );
}
