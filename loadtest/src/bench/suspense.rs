//! `ssr-bench suspense`: the streamed Suspense page (a shell and three
//! boundaries whose data arrives after 20, 50 and 100 ms) over HTTP, on the
//! service and on Node (`renderToPipeableStream` behind `cluster`), side by
//! side with the same page without waits, at the same concurrency and
//! worker count. Reported: throughput, time to first and last byte, CPU time
//! per render, the throughput ratio with and without waits (waiting must not
//! hold a CPU: target >= 0.9), and, on one connection, the time to first
//! byte against the shell's render time (target: at most 1 ms more).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{median, write};
use super::rounds::{self, measure, median_round, ROUNDS};
use crate::http::{self, Call};
use crate::servers::{Kind, Server};

/// A render of the page with its boundaries' data arriving after `delays` ms.
fn call(delays: [u64; 3]) -> Call {
    Call::render("Stream", &crate::pages::streamed(delays).to_string())
}

const WAITS: [u64; 3] = [20, 50, 100];
const NO_WAITS: [u64; 3] = [0, 0, 0];

/// The service's time to first byte on one idle connection against the
/// shell's render time in the isolate (Server-Timing `render`: until the
/// first chunk), medians of `count` requests.
async fn first_byte_overhead(server: &Server, count: usize) -> Result<Value, String> {
    let timed = http::timed_sequence(server.addr, &call(WAITS), count).await?;
    let mut first_byte: Vec<f64> = timed.iter().map(|t| t.first_byte).collect();
    let mut shell: Vec<f64> = timed.iter().map(|t| t.render).collect();
    let (first_byte, shell) = (median(&mut first_byte), median(&mut shell));
    println!(
        "one connection: first byte {first_byte:.2} ms, shell render {shell:.2} ms, +{:.2} ms",
        first_byte - shell
    );
    Ok(json!({"firstByteMs": first_byte, "shellRenderMs": shell, "overheadMs": first_byte - shell}))
}

pub async fn run(
    workers: usize,
    concurrency: usize,
    in_flight: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let bundle = e2e::find_fixture("stream")?;
    let probe = call(NO_WAITS);
    let service_args = ["--max-renders-in-flight".to_owned(), in_flight.to_string()];
    let mut results = serde_json::Map::new();
    for kind in [Kind::Service, Kind::NodeStream] {
        let server = Server::start(kind, &bundle, workers, &probe, &service_args).await?;
        let (mut waits, mut instant) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            waits.push(measure(&server, call(WAITS), concurrency, seconds).await?);
            instant.push(measure(&server, call(NO_WAITS), concurrency, seconds).await?);
        }
        let (waits, instant) = (median_round(waits), median_round(instant));
        let ratio = waits.load.per_sec / instant.load.per_sec;
        let rows = [("waits 20/50/100 ms", &waits), ("no waits", &instant)];
        rounds::print(kind.label(), &rows);
        println!("  throughput with waits / without: {ratio:.3}");
        let mut entry = json!({"waits": waits, "noWaits": instant, "ratio": ratio});
        if kind == Kind::Service {
            entry["oneConnection"] = first_byte_overhead(&server, 200).await?;
        }
        results.insert(kind.label().to_owned(), entry);
    }
    let body = json!({
        "workers": workers, "concurrency": concurrency, "inFlightPerIsolate": in_flight,
        "rounds": ROUNDS, "servers": results,
    });
    write(out, "suspense.json", &body)
}
