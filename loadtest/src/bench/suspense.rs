//! `ssr-bench suspense`: the streamed Suspense page (a shell and three
//! boundaries whose data arrives after 20, 50 and 100 ms) over HTTP, on the
//! service and on Node (`renderToPipeableStream` behind `cluster`), side by
//! side with the same page without waits, at the same concurrency and
//! worker count. Reported: throughput, time to first and last byte, CPU time
//! per render, the throughput ratio with and without waits (waiting must not
//! hold a CPU: target >= 0.9), and, on one connection, the time to first
//! byte against the shell's render time (target: at most 1 ms more).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{median, write};
use crate::http::{self, Call, LoadResult};
use crate::servers::{Kind, Server};

/// The page's props with its boundaries' data arriving after `delays` ms.
fn props(delays: [u64; 3]) -> String {
    let sections: Vec<_> = ["hero", "catalog", "reviews"]
        .iter()
        .zip(delays)
        .map(|(id, delay)| json!({"id": id, "delay": delay, "rows": 30}))
        .collect();
    json!({ "sections": sections }).to_string()
}

const WAITS: [u64; 3] = [20, 50, 100];
const NO_WAITS: [u64; 3] = [0, 0, 0];

/// One server under load with one page.
#[derive(serde::Serialize)]
struct Measured {
    #[serde(flatten)]
    load: LoadResult,
    cpu_ms_per_render: f64,
    /// Resident memory of the server's processes at the end of the round.
    rss_mib: f64,
}

async fn measure(
    server: &Server,
    delays: [u64; 3],
    concurrency: usize,
    seconds: Duration,
) -> Result<Measured, String> {
    let calls = Arc::new(vec![Call::render("Stream", &props(delays))]);
    let warmup = Duration::from_secs(1);
    http::closed_loop(
        server.addr,
        calls.clone(),
        concurrency,
        warmup,
        warmup,
        u64::MAX,
    )
    .await?;
    let cpu_before = server.cpu_time();
    let load = http::closed_loop(
        server.addr,
        calls,
        concurrency,
        Duration::ZERO,
        seconds,
        u64::MAX,
    )
    .await?;
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    Ok(Measured {
        cpu_ms_per_render: cpu.as_secs_f64() * 1e3 / load.requests.max(1) as f64,
        rss_mib: server.rss_kib().0 as f64 / 1024.0,
        load,
    })
}

/// The service's time to first byte on one idle connection against the
/// shell's render time in the isolate (Server-Timing `render`: until the
/// first chunk), medians of `count` requests.
async fn first_byte_overhead(server: &Server, count: usize) -> Result<Value, String> {
    let call = Call::render("Stream", &props(WAITS));
    let timed = http::timed_sequence(server.addr, &call, count).await?;
    let mut first_byte: Vec<f64> = timed.iter().map(|t| t.first_byte).collect();
    let mut shell: Vec<f64> = timed.iter().map(|t| t.render).collect();
    let (first_byte, shell) = (median(&mut first_byte), median(&mut shell));
    println!(
        "one connection: first byte {first_byte:.2} ms, shell render {shell:.2} ms, +{:.2} ms",
        first_byte - shell
    );
    Ok(json!({"firstByteMs": first_byte, "shellRenderMs": shell, "overheadMs": first_byte - shell}))
}

/// Rounds per server: the two pages are measured in turn, and each page's
/// median round is reported (this machine is shared; single runs vary).
const ROUNDS: usize = 3;

pub async fn run(
    workers: Option<usize>,
    concurrency: usize,
    in_flight: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bundle = e2e::find_fixture("stream")?;
    let probe = Call::render("Stream", &props(NO_WAITS));
    let service_args = ["--max-renders-in-flight".to_owned(), in_flight.to_string()];
    let mut results = serde_json::Map::new();
    for kind in [Kind::Service, Kind::NodeStream] {
        let server = Server::start(kind, &bundle, workers, &probe, &service_args).await?;
        let (mut waits, mut instant) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            waits.push(measure(&server, WAITS, concurrency, seconds).await?);
            instant.push(measure(&server, NO_WAITS, concurrency, seconds).await?);
        }
        let (waits, instant) = (median_round(waits), median_round(instant));
        let ratio = waits.load.per_sec / instant.load.per_sec;
        print(kind, &waits, &instant, ratio);
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

/// The round of median throughput.
fn median_round(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.load.per_sec.total_cmp(&b.load.per_sec));
    rounds.swap_remove(rounds.len() / 2)
}

fn print(kind: Kind, waits: &Measured, instant: &Measured, ratio: f64) {
    println!("{}:", kind.label());
    for (name, m) in [("waits 20/50/100 ms", waits), ("no waits", instant)] {
        let l = &m.load;
        println!(
            "  {name:<19} {:>6.0} renders/s  first byte p50 {:>6} us p99 {:>6} us  last byte p50 {:>6} us p99 {:>6} us  cpu {:.2} ms/render  rss {:.0} MiB  errors {}",
            l.per_sec, l.first_byte_p50_us, l.first_byte_p99_us, l.p50_us, l.p99_us, m.cpu_ms_per_render, m.rss_mib, l.errors
        );
    }
    println!("  throughput with waits / without: {ratio:.3}");
}
