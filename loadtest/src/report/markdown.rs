//! `report.md`: the throughput table, memory and start-up, the HTTP and
//! dispatch overhead and the scenarios.

use std::fmt::Write as _;

use super::results::{ratio, Report, BATCH_JOBS};
use crate::servers::{Kind, IVM_MEMORY_LIMIT_MB};

pub fn render(report: &Report) -> String {
    let mut md = String::new();
    machine(&mut md, report);
    throughput(&mut md, report);
    memory(&mut md, report);
    isolate_start(&mut md, report);
    overhead(&mut md, report);
    scenarios(&mut md, report);
    let _ = writeln!(
        md,
        "Plots: `throughput-<page>.svg` (throughput by workers), `latency-<page>.svg` (latency percentiles at {} workers).\n\nTotal run time {:.0} s.",
        report.workers,
        report.elapsed.as_secs_f64()
    );
    md
}

fn machine(md: &mut String, report: &Report) {
    let _ = writeln!(md, "# Load test report\n");
    let _ = writeln!(
        md,
        "Machine: {} cores, {}; Node {}; {} s per point after 1 s warm-up; load generator on the same machine (loopback, keep-alive). \
         isolated-vm memoryLimit {} MiB (it also sizes the young generation).\n",
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        std::env::consts::ARCH,
        node_version(),
        report.seconds.as_secs_f64(),
        IVM_MEMORY_LIMIT_MB
    );
}

fn throughput(md: &mut String, report: &Report) {
    let n = report.workers;
    let _ = writeln!(md, "| page | B1 node r/s | service({n}) | B2 cluster({n}) | B3 ivm({n}) | service/B2 | service/({n} x B1) | service/B3 | p99/p50 @70% service | B2 | B3 |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &report.pages {
        let cells = [
            (0, p.b1.renders_per_sec),
            (0, p.peak(Kind::Service)),
            (0, p.peak(Kind::NodeCluster)),
            (0, p.peak(Kind::IsolatedVm)),
            (2, p.service_over(Kind::NodeCluster)),
            (2, p.service_over_n_b1()),
            (2, p.service_over(Kind::IsolatedVm)),
            (2, p.tail(Kind::Service)),
            (2, p.tail(Kind::NodeCluster)),
            (2, p.tail(Kind::IsolatedVm)),
        ];
        row(md, p.name, &cells);
    }
}

fn memory(md: &mut String, report: &Report) {
    let _ = writeln!(md, "\n## Memory and start-up\n\nCold start is the time from spawning the server to its first answered render. The service warms every isolate (200 renders) before it takes requests; the column without warm-up shows the start-up alone.\n\n| page | service MiB per extra worker | Node process MiB | B3 MiB per extra isolate | service/Node process | service cold start ms | without warm-up | B2 | B3 |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for p in &report.pages {
        let cells = [
            (1, p.extra_mib(Kind::Service)),
            (1, p.node_process_mib()),
            (1, p.extra_mib(Kind::IsolatedVm)),
            (2, ratio(p.extra_mib(Kind::Service), p.node_process_mib())),
            (0, p.cold_ms(Kind::Service)),
            (0, p.no_warmup_ms),
            (0, p.cold_ms(Kind::NodeCluster)),
            (0, p.cold_ms(Kind::IsolatedVm)),
        ];
        row(md, p.name, &cells);
    }
    md.push('\n');
}

fn isolate_start(md: &mut String, report: &Report) {
    let _ = writeln!(md, "## Isolate start-up: cold, code cache, start-up snapshot

A fresh one-worker pool per run, no warm-up (median of 10): the isolate ready (compile + evaluate, or deserialise + find the entry points), then its first render over the steady render. Then the service binary with 2 workers: spawn to first answered render without warm-up, and with the default warm-up the first request once ready over the next 200 (median of 3 starts). The snapshot is the one `warm` takes.

| page | snapshot KiB | ready ms cold | code cache | snapshot | first render / steady cold | code cache | snapshot | service start ms, no warm-up: cold | code cache | snapshot | first request once ready / steady: cold | code cache | snapshot |");
    let _ = writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let modes = ["cold", "cached", "snapshot"];
    for p in &report.pages {
        let mut cells = vec![(0, p.start_figure(&["snapshotBytes"]) / 1024.0)];
        for key in ["readyMs", "firstOverSteady"] {
            for mode in modes {
                cells.push((1, p.start_figure(&["results", mode, key])));
            }
        }
        for (label, key) in [("noWarmup", "startMs"), ("warm", "firstRequestOverSteady")] {
            for mode in modes {
                let start = format!("{mode}-{label}");
                cells.push((1, p.start_figure(&["serviceStartMs", &start, key])));
            }
        }
        row(md, p.name, &cells);
    }
    md.push('\n');
}

/// A table row: the page, then each (decimals, value) cell.
fn row(md: &mut String, page: &str, cells: &[(usize, f64)]) {
    let _ = write!(md, "| {page} |");
    for (decimals, value) in cells {
        let _ = write!(md, " {value:.decimals$} |");
    }
    md.push('\n');
}

fn overhead(md: &mut String, report: &Report) {
    let o = &report.overhead;
    let _ = writeln!(
        md,
        "## HTTP + dispatch overhead\n\nOne request at a time on the {} page (keep-alive): inside the isolate {:.3} ms; \
         pool round trip in the handler {:.3} ms (dispatch overhead {:.1}% of render time: {:.3} ms from queued to taken by the worker, \
         {:.3} ms from the answer to the handler; each a thread wake-up); \
         as the client saw it {:.3} ms ({:.1}%: adds HTTP on both sides and the transfer of the page over loopback).\n\n\
         The same two hand-offs between bare threads on this machine (no V8, no HTTP; as long a render, as long a pause between jobs): \
         {:.3} ms over, {:.3} ms back, {:.1}% of the render. The pool's dispatch is {:.2}x that floor.\n",
        o.page,
        o.render,
        o.pool,
        o.dispatch_percent(),
        o.queue,
        o.hand_back(),
        o.client,
        o.client_percent(),
        o.floor.over,
        o.floor.back,
        o.floor_percent(),
        o.dispatch_percent() / o.floor_percent(),
    );
}

fn scenarios(md: &mut String, report: &Report) {
    let s = &report.scenarios;
    let _ = writeln!(
        md,
        "## Scenarios (service, {} workers)\n\n- mix of pages and props: {:.0} req/s, p50 {} us, p99 {} us\n- Hypernova batches of {BATCH_JOBS} App jobs: {:.0} batches/s = {:.0} renders/s, p99 {} us\n",
        report.workers,
        s.mixed.per_sec,
        s.mixed.p50_us,
        s.mixed.p99_us,
        s.batches.per_sec,
        s.batch_renders_per_sec(),
        s.batches.p99_us,
    );
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}
