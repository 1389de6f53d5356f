//! The attacks of an adversarial probe of the service, each reproduced
//! against the real server (`tests/fixtures/src/probe.js`): none may cost
//! other callers their isolate, take memory past the limits, wedge a
//! worker, or answer unbounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use e2e::server::{get, post, Reply, ServerSetup, TestServer};
use e2e::{fixture_path, test_config};
use pool::PoolConfig;
use serde_json::json;

/// The tests here measure the memory of the whole process, so they run one
/// at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn probe(setup: ServerSetup) -> TestServer {
    TestServer::start(fixture_path("probe"), setup)
}

fn render(server: &TestServer, body: serde_json::Value) -> Reply {
    post(&server.url("/render"), &body.to_string(), None)
}

fn small_heap(workers: usize) -> PoolConfig {
    PoolConfig {
        heap_limit_mb: 128,
        semi_space_mb: 4,
        ..test_config(workers)
    }
}

/// Resident memory of this process in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_one_millisecond_deadline_costs_no_isolate() {
    let _serial = serial();
    let server = probe(ServerSetup::default());
    for _ in 0..100 {
        let reply = render(&server, json!({"component": "Hello", "timeoutMs": 1}));
        // Raised to the minimum deadline, a quick render makes it.
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for _ in 0..20 {
        // Past its (raised) deadline but yielding within the grace: the
        // render is abandoned, its isolate is not.
        let reply = render(
            &server,
            json!({"component": "Spin", "props": {"ms": 40}, "timeoutMs": 1}),
        );
        assert_eq!(reply.status, 504, "{}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "timeout");
    }
    assert_eq!(
        server.pool.status().replaced,
        0,
        "{:?}",
        server.pool.status()
    );
    assert_eq!(get(&server.url("/ready")).status, 200);
}

#[test]
fn runtime_buffers_timers_and_wasm_stay_within_the_budget() {
    let _serial = serial();
    let before = rss();
    let server = probe(ServerSetup {
        config: small_heap(1),
        ..ServerSetup::default()
    });
    let mut refused = 0;
    for _ in 0..30 {
        let reply = render(&server, json!({"component": "EncodeBomb"}));
        if reply.status == 500 {
            assert_eq!(reply.json()["error"]["details"]["name"], "RangeError");
            refused += 1;
        }
    }
    assert!(refused > 0, "64 MiB per render was never refused");
    // workers x (heap limit + buffer budget) + a fixed overhead.
    let bound = 2 * (128 << 20) + (400 << 20);
    let grown = rss().saturating_sub(before);
    assert!(grown < bound, "RSS grew by {} MiB", grown >> 20);

    let flood = render(&server, json!({"component": "TimerFlood"}));
    assert_eq!(flood.body, "<p>10000 timers, then RangeError</p>");
    assert_eq!(
        render(&server, json!({"component": "Wasm"})).body,
        "<p>undefined</p>"
    );
    let grown = rss().saturating_sub(before);
    assert!(grown < bound, "RSS grew by {} MiB", grown >> 20);
}

#[test]
fn a_caught_buffer_refusal_is_a_range_error_and_keeps_the_isolate() {
    let _serial = serial();
    let server = probe(ServerSetup {
        config: small_heap(1),
        ..ServerSetup::default()
    });
    let reply = render(&server, json!({"component": "CaughtBuffer"}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "<p>RangeError RangeError</p>");
    assert_eq!(server.pool.status().replaced, 0);
}

#[test]
fn the_integrity_check_runs_no_bundle_code() {
    let _serial = serial();
    let server = probe(ServerSetup {
        config: test_config(1),
        ..ServerSetup::default()
    });
    for (component, replaced) in [("TamperGetter", 1), ("SpyStringify", 2)] {
        let started = Instant::now();
        let reply = render(&server, json!({"component": component}));
        assert_eq!(reply.status, 200, "{component}: {}", reply.body);
        assert!(started.elapsed() < Duration::from_secs(10));
        // The tampering is detected and the isolate replaced before the next
        // job: the next caller gets a clean one.
        let hello = render(
            &server,
            json!({"component": "Hello", "props": {"name": "next"}}),
        );
        assert_eq!(hello.body, "<p>hello next</p>");
        assert_eq!(server.pool.status().replaced, replaced, "{component}");
    }
}

#[test]
fn the_engines_gc_function_is_out_of_reach() {
    let _serial = serial();
    let server = probe(ServerSetup::default());
    let reply = render(&server, json!({"component": "EngineGc"}));
    assert_eq!(reply.body, "<p>undefined undefined</p>");
}

#[test]
fn error_text_is_bounded() {
    let _serial = serial();
    let server = probe(ServerSetup {
        config: PoolConfig {
            heap_limit_mb: 256,
            ..test_config(1)
        },
        debug_errors: true,
        ..ServerSetup::default()
    });
    let reply = render(
        &server,
        json!({"component": "BigThrow", "props": {"mb": 20}}),
    );
    assert_eq!(reply.status, 500);
    assert!(reply.body.len() < 64 * 1024, "{} bytes", reply.body.len());
    let message = reply.json()["error"]["details"]["message"].clone();
    assert!(message.as_str().unwrap().contains("truncated"), "{message}");

    let name = "N".repeat(512 << 10);
    let reply = render(&server, json!({"component": name}));
    assert_eq!(reply.status, 404);
    assert!(reply.body.len() < 1024, "{} bytes", reply.body.len());
}

#[test]
fn one_batch_cannot_fill_the_queue() {
    let _serial = serial();
    let server = probe(ServerSetup {
        config: PoolConfig {
            queue_capacity: 64,
            ..test_config(2)
        },
        ..ServerSetup::default()
    });
    let jobs = |n: usize, component: &str| {
        let jobs: serde_json::Map<String, serde_json::Value> = (0..n)
            .map(|i| (i.to_string(), json!({"name": component, "data": {"ms": 5}})))
            .collect();
        serde_json::Value::Object(jobs).to_string()
    };
    let too_many = post(&server.url("/batch"), &jobs(3000, "Spin"), None);
    assert_eq!(too_many.status, 413);
    assert_eq!(too_many.json()["error"]["code"], "too_many_jobs");

    // A batch four times the queue's size, with single renders beside it:
    // every job renders, and no single render is refused.
    let url = server.url("/batch");
    let body = jobs(256, "Spin");
    let batch = std::thread::spawn(move || post(&url, &body, None));
    let mut singles = Vec::new();
    while !batch.is_finished() {
        singles.push(render(&server, json!({"component": "Hello"})).status);
    }
    let batch = batch.join().unwrap().json();
    let results = batch["results"].as_object().unwrap();
    assert_eq!(results.len(), 256);
    assert!(results.values().all(|r| r["statusCode"] == 200));
    assert!(!singles.is_empty());
    assert!(singles.iter().all(|s| *s == 200), "{singles:?}");
}

#[test]
fn small_defects_answer_as_documented() {
    let _serial = serial();
    let server = probe(ServerSetup {
        body_timeout: Duration::from_secs(1),
        ..ServerSetup::default()
    });
    let wrong_method = get(&server.url("/render"));
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["error"]["code"], "method_not_allowed");

    let string_props = render(&server, json!({"component": "Props", "props": "abc"}));
    assert_eq!(string_props.status, 400);
    assert_eq!(string_props.json()["error"]["code"], "invalid_props");

    let reregister = render(&server, json!({"component": "Reregister"}));
    assert_eq!(reregister.status, 500);
    assert_eq!(reregister.json()["error"]["details"]["name"], "TypeError");
    let hello = render(&server, json!({"component": "Hello"}));
    assert_eq!(hello.body, "<p>hello world</p>");

    // A body that never finishes arriving is cut off.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"comp")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
}
