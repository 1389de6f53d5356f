//! Streamed renders over HTTP: React's `renderToReadableStream` with nested
//! Suspense boundaries (`tests/fixtures/src/stream-page.jsx`), byte for byte
//! against Node's own streams; the shell before slow boundaries; aborts at
//! the deadline; callers that leave; streams that misbehave.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::server::{metric, post, stream, ServerSetup, TestServer};
use e2e::{fixture_path, repo_root, test_config};
use pool::PoolConfig;
use serde_json::json;

/// What Node's own `renderToReadableStream` writes for the page.
fn node_stream(props: &serde_json::Value) -> Vec<u8> {
    let out = Command::new("node")
        .arg(repo_root().join("tests/node/stream-reference.mjs"))
        .arg("--props")
        .arg(props.to_string())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn stream_server(config: PoolConfig) -> TestServer {
    TestServer::start(
        fixture_path("stream"),
        ServerSetup {
            config,
            ..ServerSetup::default()
        },
    )
}

#[test]
fn streamed_html_is_nodes_byte_for_byte_in_every_mode() {
    let server = stream_server(test_config(2));
    let expected = node_stream(&json!({}));
    let streamed = stream(&server, &json!({"component": "Stream", "props": {}}));
    assert_eq!(streamed.status, 200);
    assert!(streamed.complete);
    assert!(streamed.chunks.len() > 1, "sent as it was emitted");
    assert_eq!(streamed.body(), expected);

    // JSON and Hypernova collect the stream.
    let json = post(
        &server.url("/render"),
        &json!({"component": "Stream"}).to_string(),
        Some("application/json"),
    )
    .json();
    assert_eq!(json["html"].as_str().unwrap().as_bytes(), expected);
    let batch = post(
        &server.url("/batch"),
        &json!({"a": {"name": "Stream", "data": {}}}).to_string(),
        None,
    )
    .json();
    assert_eq!(
        batch["results"]["a"]["html"].as_str().unwrap().as_bytes(),
        expected
    );
}

/// The example app's streamed page, from its script build and from its ES
/// module builds (esbuild, and Vite's entry with a chunk).
#[test]
fn the_example_apps_streamed_page_is_nodes_byte_for_byte() {
    let file = repo_root().join("examples/app/props/product-streamed.json");
    let mut props: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    // Long enough that the reviews cannot be ready with the shell.
    props["reviewsDelayMs"] = json!(300);
    let expected = e2e::run_node_script(
        "example-stream-reference.mjs",
        [
            "--component",
            "ProductStreamed",
            "--props",
            &props.to_string(),
        ],
    )
    .unwrap();
    for bundle in [
        "examples/app/dist/server.js",
        "tests/fixtures/build/example-esm/server.mjs",
        "tests/fixtures/build/example-vite/server.js",
    ] {
        let server = TestServer::start(
            repo_root().join(bundle),
            ServerSetup {
                config: test_config(1),
                ..ServerSetup::default()
            },
        );
        let streamed = stream(
            &server,
            &json!({"component": "ProductStreamed", "props": props}),
        );
        assert_eq!(streamed.status, 200, "{bundle}");
        assert!(streamed.complete, "{bundle}");
        assert!(
            streamed.chunks.len() > 1,
            "{bundle}: the reviews come after the shell"
        );
        assert_eq!(
            String::from_utf8_lossy(&streamed.body()),
            String::from_utf8_lossy(&expected),
            "{bundle}"
        );
    }
}

#[test]
fn the_shell_arrives_before_the_slowest_boundary() {
    let server = stream_server(test_config(1));
    let props = json!({"sections": [{"id": "slow", "delay": 1500, "rows": 3}]});
    let streamed = stream(&server, &json!({"component": "Stream", "props": props}));
    assert!(streamed.complete);
    assert_eq!(streamed.body(), node_stream(&props));
    let (first, shell) = &streamed.chunks[0];
    let (last, _) = streamed.chunks.last().unwrap();
    // The shell was written while the boundary still waited for its data.
    assert!(!String::from_utf8_lossy(shell).contains("slow item"));
    assert!(
        *last - *first > Duration::from_millis(1000),
        "shell at {first:?}, last chunk at {last:?}"
    );
    eprintln!("time to first byte {first:?}, to last byte {last:?}");
}

#[test]
fn a_deadline_aborts_into_reacts_fallbacks_not_an_error_page() {
    let server = stream_server(test_config(1));
    let props = json!({"sections": [{"id": "fast", "delay": 1, "rows": 2}, {"id": "late", "delay": 5000, "rows": 2}]});
    let streamed = stream(
        &server,
        &json!({"component": "Stream", "props": props, "timeoutMs": 300}),
    );
    assert_eq!(streamed.status, 200);
    assert!(
        streamed.complete,
        "React finishes the stream after the abort"
    );
    let html = String::from_utf8(streamed.body()).unwrap();
    assert!(html.contains("fast item 1"), "the ready boundary is there");
    assert!(!html.contains("late item 1"));
    assert!(
        html.contains("$RX"),
        "client-render fallback for the late one"
    );
    assert_eq!(
        metric(
            &server,
            "ssr_renders_total{outcome=\"aborted_at_deadline\"}"
        ),
        1.0
    );
}

#[test]
fn a_caller_that_leaves_mid_stream_frees_its_slot() {
    let server = stream_server(PoolConfig {
        max_renders_in_flight: 4,
        ..test_config(1)
    });
    // A boundary soon after the shell, whose write finds the caller gone;
    // a second one for a caller that left only after that write arrived
    // (the service learns of a closed connection when it next writes to
    // it); and one that would keep the render in flight for 10 s.
    let props = json!({"sections": [
        {"id": "soon", "delay": 20, "rows": 1},
        {"id": "later", "delay": 200, "rows": 1},
        {"id": "slow", "delay": 10000, "rows": 1},
    ]});
    let body = json!({"component": "Stream", "props": props}).to_string();
    for _ in 0..1000 {
        let mut conn = TcpStream::connect(server.addr).unwrap();
        write!(
            conn,
            "POST /render HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut first = [0u8; 512];
        let n = conn.read(&mut first).unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"));
        // Gone after the shell, while the slow boundary waits.
    }
    // With 4 slots and 10 s renders, 1,000 callers only got their shells
    // because each one that left freed its slot.
    let started = Instant::now();
    while metric(&server, "ssr_renders_total{outcome=\"cancelled\"}") < 1000.0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "slots not freed: renders by outcome {:?}",
            ["cancelled", "ok", "aborted_at_deadline"].map(|outcome| {
                let name = format!("ssr_renders_total{{outcome=\"{outcome}\"}}");
                (outcome, metric(&server, &name))
            })
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let fine = stream(
        &server,
        &json!({"component": "Stream", "props": {"sections": []}}),
    );
    assert!(fine.complete);
}

#[test]
fn a_thousand_concurrent_streams_are_all_nodes_bytes() {
    let server = stream_server(test_config(2));
    let expected = node_stream(&json!({}));
    let body = json!({"component": "Stream", "props": {}});
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..50)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let streamed = stream(&server, &body);
                        assert!(streamed.complete);
                        assert_eq!(streamed.body(), expected);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    });
}

#[test]
fn misbehaving_streams_end_incomplete_and_others_are_served() {
    let server = TestServer::start(
        fixture_path("hostile-stream"),
        ServerSetup {
            config: PoolConfig {
                max_output_bytes: 4 << 20,
                ..test_config(1)
            },
            ..ServerSetup::default()
        },
    );
    for (component, timeout) in [
        ("NeverCloses", 300),
        ("Forever", 5000),
        ("ErrorsAfterShell", 5000),
    ] {
        let streamed = stream(
            &server,
            &json!({"component": component, "timeoutMs": timeout}),
        );
        assert_eq!(streamed.status, 200, "{component}");
        assert!(!streamed.complete, "{component} must not look complete");
        assert!(!streamed.chunks.is_empty());
        let fine = stream(&server, &json!({"component": "Fine"}));
        assert!(fine.complete);
        assert_eq!(fine.body(), b"<p>fine</p>");
    }
    assert_eq!(server.pool.status().replaced, 0);
}

#[test]
fn renders_waiting_on_timers_do_not_hold_the_cpu() {
    // One isolate: twenty renders wait 2 s for a boundary's data while a
    // render that only computes arrives; it is answered before any of them.
    let server = stream_server(PoolConfig {
        max_renders_in_flight: 32,
        ..test_config(1)
    });
    let waiting = json!({"component": "Stream", "props": {"sections": [{"id": "slow", "delay": 2000, "rows": 1}]}});
    let computing = json!({"component": "Stream", "props": {"sections": []}});
    std::thread::scope(|scope| {
        let slow: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    let streamed = stream(&server, &waiting);
                    assert!(streamed.complete);
                    Instant::now()
                })
            })
            .collect();
        // Each has its shell once it is in flight.
        let started = Instant::now();
        while metric(&server, "ssr_workers_busy") > 0.0
            && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        let fast = stream(&server, &computing);
        let fast_done = Instant::now();
        assert!(fast.complete);
        for done in slow {
            let done = done.join().unwrap();
            assert!(
                fast_done < done,
                "a waiting render finished before the computing one"
            );
        }
    });
}
