//! `fetch` during renders, against a local upstream (tests/node/upstream.mjs)
//! the tests start: a React page whose Suspense boundaries load their data
//! streams as Node streams it; the allowlist (also for redirects), the
//! per-render limits and timeouts, aborts when a render ends; URL parsing
//! against Node's.

use std::time::Duration;

use e2e::server::{metric, post, stream_with_headers, ServerSetup, TestServer};
use e2e::upstream::Upstream;
use e2e::{fixture_path, run_node_script, test_config};
use pool::PoolConfig;
use serde_json::{json, Value};

fn fetch_server(upstream: &Upstream, config: PoolConfig) -> TestServer {
    TestServer::start(
        fixture_path("fetch"),
        ServerSetup {
            config: PoolConfig {
                fetch_allow: vec![upstream.origin.clone()],
                ..config
            },
            forward_headers: vec!["x-trace-id".to_owned()],
            ..ServerSetup::default()
        },
    )
}

/// Renders `component` with `props` and returns the HTML, parsed as JSON.
fn render_json(server: &TestServer, component: &str, props: Value) -> Value {
    let reply = post(
        &server.url("/render"),
        &json!({"component": component, "props": props}).to_string(),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

#[test]
fn a_page_that_fetches_streams_as_node_streams_it() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(1));
    let props = json!({"api": upstream.origin});
    let streamed = stream_with_headers(
        &server,
        &json!({"component": "FetchPage", "props": props}),
        &[("x-trace-id", "trace-7")],
    );
    // The pass-through header reached the upstream on each of the fetches.
    assert_eq!(upstream.stats()["traceIds"]["trace-7"], 3);
    let expected = run_node_script(
        "fetch-reference.mjs",
        [
            "--component",
            "FetchPage",
            "--props",
            &props.to_string(),
            "--trace-id",
            "trace-7",
        ],
    )
    .unwrap();
    assert_eq!(streamed.status, 200);
    assert!(streamed.complete);
    assert_eq!(
        String::from_utf8_lossy(&streamed.body()),
        String::from_utf8_lossy(&expected)
    );
    // The shell went out while the slowest section (300 ms) still waited.
    let (first, _) = streamed.chunks[0];
    let (last, _) = *streamed.chunks.last().unwrap();
    assert!(
        last - first > Duration::from_millis(150),
        "{first:?} .. {last:?}"
    );
}

#[test]
fn many_pages_fetching_at_once_all_complete_with_nodes_bytes() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(2));
    let sections = json!([
        {"id": "a", "delay": 10, "rows": 5},
        {"id": "b", "delay": 20, "rows": 5},
        {"id": "c", "delay": 30, "rows": 5},
    ]);
    let props = json!({"api": upstream.origin, "sections": sections});
    let expected = run_node_script(
        "fetch-reference.mjs",
        ["--component", "FetchPage", "--props", &props.to_string()],
    )
    .unwrap();
    let body = json!({"component": "FetchPage", "props": props, "timeoutMs": 3000});
    std::thread::scope(|scope| {
        for _ in 0..32 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let streamed = stream_with_headers(&server, &body, &[]);
                    assert!(streamed.complete);
                    // A render stalled to its deadline, or a failed fetch,
                    // would show fallbacks.
                    let body = streamed.body();
                    assert!(body == expected, "{}", String::from_utf8_lossy(&body));
                }
            });
        }
    });
    assert_eq!(
        metric(
            &server,
            "ssr_renders_total{outcome=\"aborted_at_deadline\"}"
        ),
        0.0
    );
}

#[test]
fn refused_origins_and_redirects_reject_with_a_type_error() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(1));
    let elsewhere = "http://127.0.0.1:9/items";
    let refused = render_json(&server, "FetchOnce", json!({"url": elsewhere}));
    assert_eq!(refused["error"], "TypeError");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("http://127.0.0.1:9 refused"));

    let redirect = upstream.url(&format!("/redirect?to={elsewhere}"));
    let refused = render_json(&server, "FetchOnce", json!({"url": redirect}));
    assert_eq!(refused["error"], "TypeError");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("http://127.0.0.1:9 refused"),
        "{refused}"
    );

    let inside = upstream.url(&format!("/redirect?to={}", upstream.url("/items?rows=1")));
    let followed = render_json(&server, "FetchOnce", json!({"url": inside}));
    assert_eq!(followed["status"], 200, "{followed}");

    for url in ["file:///etc/passwd", "data:text/plain,x"] {
        let refused = render_json(&server, "FetchOnce", json!({"url": url}));
        assert_eq!(refused["error"], "TypeError", "{url}: {refused}");
    }
    let refused = metric(
        &server,
        "ssr_fetches_total{origin=\"refused\",outcome=\"refused\"}",
    );
    assert!(refused >= 1.0, "refused fetches are counted");
    // The refused redirect counts against the origin that redirected.
    let redirected = format!(
        "ssr_fetches_total{{origin=\"{}\",outcome=\"refused\"}}",
        upstream.origin
    );
    assert_eq!(metric(&server, &redirected), 1.0);
}

#[test]
fn failures_timeouts_and_byte_limits_are_type_errors() {
    let upstream = Upstream::start();
    // A second allowed origin where nothing listens.
    let closed = format!("http://127.0.0.1:{}", e2e::free_port());
    let config = PoolConfig {
        fetch_allow: vec![upstream.origin.clone(), closed.clone()],
        fetch_timeout: Duration::from_millis(300),
        fetch_max_response_bytes: 100_000,
        ..test_config(1)
    };
    let server = TestServer::start(
        fixture_path("fetch"),
        ServerSetup {
            config,
            ..ServerSetup::default()
        },
    );
    let failed = render_json(&server, "FetchOnce", json!({"url": format!("{closed}/x")}));
    assert_eq!(failed["error"], "TypeError", "{failed}");

    let slow = upstream.url("/items?delay=2000&rows=1");
    let timed_out = render_json(&server, "FetchOnce", json!({"url": slow}));
    assert!(
        timed_out["message"].as_str().unwrap().contains("timed out"),
        "{timed_out}"
    );

    for big in ["/big?bytes=200000", "/big?bytes=200000&chunked=1"] {
        let too_large = render_json(&server, "FetchOnce", json!({"url": upstream.url(big)}));
        assert!(
            too_large["message"]
                .as_str()
                .unwrap()
                .contains("limit of 100000 bytes"),
            "{too_large}"
        );
    }
    let small = render_json(
        &server,
        "FetchOnce",
        json!({"url": upstream.url("/big?bytes=1000")}),
    );
    assert_eq!(small["body"].as_str().unwrap().len(), 1000);
    // Only the connection of the whole response stays, for reuse.
    upstream.wait_open_at_most(1);
}

#[test]
fn fetches_open_when_a_render_ends_are_closed_and_leak_nothing() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(2));
    let hang = upstream.url("/hang");
    for _ in 0..100 {
        // The render's deadline passes with its fetch open.
        let reply = post(
            &server.url("/render"),
            &json!({"component": "FetchHang", "props": {"url": hang}, "timeoutMs": 50}).to_string(),
            None,
        );
        assert_eq!(reply.status, 504, "{}", reply.body);
    }
    upstream.wait_open_at_most(0);

    // A render that answered at once, leaving a fetch and a fetching
    // interval behind: neither outlives it.
    let after = upstream.url("/items?delay=200&rows=1");
    let reply = post(
        &server.url("/render"),
        &json!({"component": "FetchAfterEnd", "props": {"url": after}}).to_string(),
        None,
    );
    assert_eq!(reply.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let requests = upstream.stats()["requests"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.stats()["requests"].as_u64().unwrap(), requests);
    upstream.wait_open_at_most(0);

    // A caller that leaves before the first byte.
    for _ in 0..20 {
        let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
        let body = json!({"component": "FetchHang", "props": {"url": hang}}).to_string();
        use std::io::Write;
        write!(
            conn,
            "POST /render HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    upstream.wait_open_at_most(0);
    // Everyone else is still served.
    let ok = render_json(
        &server,
        "FetchOnce",
        json!({"url": upstream.url("/items?rows=1")}),
    );
    assert_eq!(ok["status"], 200);
}

#[test]
fn response_bodies_count_against_the_isolates_buffer_budget() {
    let upstream = Upstream::start();
    let config = PoolConfig {
        // ArrayBuffers get a budget of the heap limit's size.
        heap_limit_mb: 64,
        fetch_max_response_bytes: 256 << 20,
        ..test_config(1)
    };
    let server = fetch_server(&upstream, config);
    let url = upstream.url("/big?bytes=100000000");
    let big = render_json(&server, "FetchOnce", json!({ "url": url }));
    assert_eq!(big["error"], "RangeError", "{big}");
    // The isolate keeps serving.
    let url = upstream.url("/items?rows=1");
    let ok = render_json(&server, "FetchOnce", json!({ "url": url }));
    assert_eq!(ok["status"], 200, "{ok}");
}

#[test]
fn a_fetch_flood_is_bounded_by_the_request_limit() {
    let upstream = Upstream::start();
    let config = PoolConfig {
        fetch_max_requests: 8,
        ..test_config(1)
    };
    let server = fetch_server(&upstream, config);
    let url = upstream.url("/items?delay=10&rows=1");
    let flood = render_json(&server, "FetchFlood", json!({"url": url, "count": 5000}));
    assert_eq!(flood["fulfilled"], 8, "{flood}");
    assert_eq!(flood["rejected"], 5000 - 8);
    assert!(flood["firstError"]["message"]
        .as_str()
        .unwrap()
        .contains("8 requests"));
    assert!(upstream.stats()["requests"].as_u64().unwrap() <= 8);
    upstream.wait_open_at_most(8);
}

#[test]
fn fetch_is_off_unless_origins_are_allowed() {
    let upstream = Upstream::start();
    let server = TestServer::start(fixture_path("fetch"), ServerSetup::default());
    let off = render_json(&server, "FetchOnce", json!({"url": upstream.url("/items")}));
    assert_eq!(off["error"], "TypeError");
    assert!(
        off["message"].as_str().unwrap().contains("fetch is off"),
        "{off}"
    );
    assert_eq!(upstream.stats()["requests"], 0);
}

#[test]
fn only_listed_request_headers_reach_renders() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(1));
    let mut response = ureq::post(&server.url("/render"))
        .header("content-type", "application/json")
        .header("x-trace-id", "abc")
        .header("cookie", "secret=1")
        .send(json!({"component": "ContextHeaders"}).to_string())
        .unwrap();
    let seen: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(seen, json!({"x-trace-id": "abc"}));
}

#[test]
fn url_parses_and_sets_as_nodes_url() {
    let upstream = Upstream::start();
    let server = fetch_server(&upstream, test_config(1));
    let cases = json!([
        {"input": "HTTP://EXAMPLE.com:80/a/../b/./c?x=1#y"},
        {"input": "/p?q", "base": "https://a.b/c/d"},
        {"input": "../x", "base": "http://h/a/b/c"},
        {"input": "https://用户:pw@münchen.de:8443/ü?ä=ö#ß"},
        {"input": "http://[::1]:3000/"},
        {"input": "http://0x7f.1/"},
        {"input": "not a url"},
        {"input": "https://a.b/", "base": "::"},
        {"input": "mailto:ada@example.com"},
        {"input": "blob:https://a.b/uuid"},
        {"input": "file:///tmp/x"},
        {"input": "https://a.b/%zz%41 space"},
        {"input": "https://a.b/", "set": ["port", "8080"]},
        {"input": "https://a.b/", "set": ["port", "443"]},
        {"input": "https://a.b/", "set": ["protocol", "ftp"]},
        {"input": "https://a.b/", "set": ["protocol", "mailto"]},
        {"input": "https://a.b/", "set": ["hostname", "c.d"]},
        {"input": "https://a.b/", "set": ["host", "c.d:81"]},
        {"input": "https://a.b/", "set": ["pathname", "/x y"]},
        {"input": "https://a.b/", "set": ["search", "a=b c"]},
        {"input": "https://a.b/", "set": ["hash", "frag ment"]},
        {"input": "https://a.b/", "set": ["username", "u@s"]},
        {"input": "https://a.b/", "set": ["href", "nope"]},
    ]);
    let props = json!({"cases": cases});
    let ours = render_json(&server, "UrlCases", props.clone());
    let nodes: Value = serde_json::from_slice(
        &run_node_script("url-reference.mjs", ["--props", &props.to_string()]).unwrap(),
    )
    .unwrap();
    for (i, (ours, nodes)) in ours
        .as_array()
        .unwrap()
        .iter()
        .zip(nodes.as_array().unwrap())
        .enumerate()
    {
        assert_eq!(ours, nodes, "case {}", cases[i]);
    }
}
