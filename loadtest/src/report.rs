//! `ssr-bench report`: the service against the Node baselines, side by side
//! in one invocation, on the same bundles, props and machine. Writes
//! `report.md`, `report.json` and SVG plots.
//!
//! - B1: plain Node `renderToString` in a loop, one thread.
//! - B2: a Node `http` server with `cluster`, N workers.
//! - B3: a Node server rendering through a pool of isolated-vm isolates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{self, Call, LoadResult};
use crate::node;
use crate::pages::{self, Page};
use crate::plot;
use crate::servers::{Kind, Server, IVM_MEMORY_LIMIT_MB};

pub struct Options {
    pub pages: Vec<String>,
    pub workers: usize,
    pub seconds: Duration,
    pub baselines: Vec<Kind>,
}

/// Everything measured for one server kind on one page.
#[derive(Debug, Default, serde::Serialize)]
pub struct KindResult {
    /// Closed-loop throughput by worker count.
    pub by_workers: BTreeMap<usize, LoadResult>,
    /// Open loop at 70% of the peak.
    pub at_70: Option<LoadResult>,
    pub rss_kib_1: u64,
    pub rss_kib_n: u64,
    pub per_process_kib: Vec<u64>,
    pub cold_start_ms: f64,
}

impl KindResult {
    /// (workers, requests/s) points.
    pub fn throughput(&self) -> Vec<(usize, f64)> {
        self.by_workers
            .iter()
            .map(|(w, r)| (*w, r.per_sec))
            .collect()
    }

    /// p50, p90, p99, p99.9 in ms of the closed loop at `workers`.
    pub fn percentiles(&self, workers: usize) -> Option<Vec<f64>> {
        let r = self.by_workers.get(&workers)?;
        Some(
            [r.p50_us, r.p90_us, r.p99_us, r.p999_us]
                .iter()
                .map(|us| *us as f64 / 1e3)
                .collect(),
        )
    }
}

/// Service arguments that warm it up with `samples`.
fn samples_args(samples: &Path) -> Vec<String> {
    vec!["--samples".into(), samples.display().to_string()]
}

/// Time from spawn to the first answered render with no warm-up renders
/// (the default warm-up trades start-up time for first-request latency).
async fn cold_start_without_warmup(page: &Page, workers: usize) -> Result<f64, String> {
    let call = Call::render(page.component, &page.props);
    let args = ["--warmup-renders".to_owned(), "0".to_owned()];
    let server = Server::start(Kind::Service, &page.bundle, workers, &call, &args).await?;
    Ok(server.cold_start.as_secs_f64() * 1e3)
}

fn write_samples(dir: &Path, page: &Page) -> Result<PathBuf, String> {
    let path = dir.join(format!("samples-{}.json", page.name));
    let body = format!(
        r#"[{{"component":"{}","props":{}}}]"#,
        page.component, page.props
    );
    std::fs::write(&path, body).map_err(|e| e.to_string())?;
    Ok(path)
}

async fn measure_kind(
    kind: Kind,
    page: &Page,
    opts: &Options,
    samples: &Path,
) -> Result<KindResult, String> {
    let call = Call::render(page.component, &page.props);
    let calls = Arc::new(vec![call.clone()]);
    let mut result = KindResult::default();
    for workers in 1..=opts.workers {
        let server =
            Server::start(kind, &page.bundle, workers, &call, &samples_args(samples)).await?;
        let run = http::closed_loop(
            server.addr,
            calls.clone(),
            2 * workers,
            Duration::from_secs(1),
            opts.seconds,
            u64::MAX,
        )
        .await?;
        eprintln!(
            "  {:<16} workers={workers} {:>8.0} req/s  p50 {:>6} us  p99 {:>6} us  errors {}",
            kind.label(),
            run.per_sec,
            run.p50_us,
            run.p99_us,
            run.errors
        );
        let (rss, each) = server.rss_kib();
        if workers == 1 {
            result.rss_kib_1 = rss;
        }
        if workers == opts.workers {
            result.rss_kib_n = rss;
            result.per_process_kib = each;
            result.cold_start_ms = server.cold_start.as_secs_f64() * 1e3;
            let rate = (run.per_sec * 0.7).max(1.0);
            let open = http::open_loop(server.addr, calls.clone(), rate, opts.seconds, 64).await?;
            eprintln!(
                "  {:<16} open loop {rate:.0} req/s: p50 {} us  p99 {} us",
                kind.label(),
                open.p50_us,
                open.p99_us
            );
            result.at_70 = Some(open);
        }
        result.by_workers.insert(workers, run);
    }
    Ok(result)
}

/// HTTP + dispatch overhead: client latency and the pool round trip vs
/// the time inside the isolate (the service's Server-Timing header), one
/// request at a time on one keep-alive connection. Returns mean (client,
/// pool, render) in ms.
async fn overhead(page: &Page, samples: &Path) -> Result<(f64, f64, f64), String> {
    let call = Call::render(page.component, &page.props);
    let server = Server::start(
        Kind::Service,
        &page.bundle,
        1,
        &call,
        &samples_args(samples),
    )
    .await?;
    let timings = http::timed_sequence(server.addr, &call, 600).await?;
    let measured = &timings[100..];
    let mean =
        |f: fn(&http::Timed) -> f64| measured.iter().map(f).sum::<f64>() / measured.len() as f64;
    Ok((mean(|t| t.client), mean(|t| t.pool), mean(|t| t.render)))
}

/// Extra scenarios on the service: a mix of pages and props, and batches.
async fn scenarios(opts: &Options, dir: &Path) -> Result<serde_json::Value, String> {
    let pages_bundle = e2e::find_fixture("pages")?;
    let mix = vec![
        Call::render("Table", r#"{"count":200}"#),
        Call::render("App", "{}"),
        Call::render("Table", r#"{"count":1000}"#),
        Call::render("Divs", "{}"),
        Call::render("App", r#"{"locale":"de-DE"}"#),
    ];
    let samples = dir.join("samples-mix.json");
    std::fs::write(&samples, r#"[{"component":"Table","props":{}},{"component":"App","props":{}},{"component":"Divs","props":{}}]"#)
        .map_err(|e| e.to_string())?;
    let server = Server::start(
        Kind::Service,
        &pages_bundle,
        opts.workers,
        &mix[1],
        &samples_args(&samples),
    )
    .await?;
    let mixed = http::closed_loop(
        server.addr,
        Arc::new(mix),
        2 * opts.workers,
        Duration::from_secs(1),
        opts.seconds,
        u64::MAX,
    )
    .await?;
    let batch = Call::batch(&[("App", "{}"); 8]);
    let batches = http::closed_loop(
        server.addr,
        Arc::new(vec![batch]),
        opts.workers,
        Duration::from_secs(1),
        opts.seconds,
        u64::MAX,
    )
    .await?;
    eprintln!(
        "  mixed pages {:.0} req/s; batches of 8: {:.0} batches/s ({:.0} renders/s)",
        mixed.per_sec,
        batches.per_sec,
        batches.per_sec * 8.0
    );
    Ok(
        json!({"mixedPages": mixed, "hypernovaBatch8": batches, "batchRendersPerSec": batches.per_sec * 8.0}),
    )
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

pub async fn run(opts: Options, out: &Path) -> Result<(), String> {
    let n = opts.workers;
    let mut report = serde_json::Map::new();
    let mut md = String::new();
    let started = Instant::now();
    let _ = writeln!(md, "# Load test report\n");
    let _ = writeln!(
        md,
        "Machine: {} cores, {}; Node {}; {} s per point after 1 s warm-up; load generator on the same machine (loopback, keep-alive). \
         isolated-vm memoryLimit {} MiB (it also sizes the young generation).\n",
        std::thread::available_parallelism().map_or(1, |p| p.get()),
        std::env::consts::ARCH,
        node_version(),
        opts.seconds.as_secs_f64(),
        IVM_MEMORY_LIMIT_MB
    );
    let _ = writeln!(md, "| page | B1 node r/s | service({n}) | B2 cluster({n}) | B3 ivm({n}) | service/B2 | service/({n} x B1) | service/B3 | p99/p50 @70% service | B2 | B3 |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut memory_rows = String::new();
    for name in &opts.pages {
        let page = pages::page(name)?;
        eprintln!("page {}", page.name);
        let samples = write_samples(out, &page)?;
        let b1 = node::bench(&page, opts.seconds)?;
        eprintln!("  B1 node loop      {:>8.0} renders/s", b1.renders_per_sec);
        let mut kinds = BTreeMap::new();
        for kind in std::iter::once(Kind::Service).chain(opts.baselines.iter().copied()) {
            match measure_kind(kind, &page, &opts, &samples).await {
                Ok(r) => {
                    kinds.insert(kind.label(), r);
                }
                Err(e) => eprintln!("  {} skipped: {e}", kind.label()),
            }
        }
        let peak = |k: Kind| {
            kinds
                .get(k.label())
                .and_then(|r| r.by_workers.get(&n))
                .map_or(f64::NAN, |r| r.per_sec)
        };
        let tail = |k: Kind| {
            kinds
                .get(k.label())
                .and_then(|r| r.at_70.as_ref())
                .map_or(f64::NAN, |r| r.p99_us as f64 / r.p50_us.max(1) as f64)
        };
        let (svc, b2, b3) = (
            peak(Kind::Service),
            peak(Kind::NodeCluster),
            peak(Kind::IsolatedVm),
        );
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            page.name, b1.renders_per_sec, svc, b2, b3, ratio(svc, b2), ratio(svc, n as f64 * b1.renders_per_sec), ratio(svc, b3),
            tail(Kind::Service), tail(Kind::NodeCluster), tail(Kind::IsolatedVm)
        );
        let svc_mem = kinds.get(Kind::Service.label());
        let b2_mem = kinds.get(Kind::NodeCluster.label());
        let b3_mem = kinds.get(Kind::IsolatedVm.label());
        let extra = |r: Option<&KindResult>| {
            r.map_or(f64::NAN, |r| {
                (r.rss_kib_n as f64 - r.rss_kib_1 as f64) / (n.max(2) - 1) as f64 / 1024.0
            })
        };
        // A cluster worker is a whole Node process: its RSS is the cost of one more worker.
        let node_process = b2_mem
            .and_then(|r| r.per_process_kib.iter().skip(1).copied().max())
            .map_or(f64::NAN, |k| k as f64 / 1024.0);
        let cold = |r: Option<&KindResult>| r.map_or(f64::NAN, |r| r.cold_start_ms);
        let no_warmup = cold_start_without_warmup(&page, n).await?;
        let _ = writeln!(
            memory_rows,
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} |",
            page.name,
            extra(svc_mem),
            node_process,
            extra(b3_mem),
            ratio(extra(svc_mem), node_process),
            cold(svc_mem),
            no_warmup,
            cold(b2_mem),
            cold(b3_mem)
        );
        plot::throughput(
            &out.join(format!("throughput-{}.svg", page.name)),
            page.name,
            &kinds,
        )?;
        plot::latency(
            &out.join(format!("latency-{}.svg", page.name)),
            page.name,
            &kinds,
            n,
        )?;
        report.insert(
            page.name.to_owned(),
            json!({"b1": {"rendersPerSec": b1.renders_per_sec, "meanUs": b1.mean_us}, "servers": kinds,
                   "ratios": {"serviceOverB2": ratio(svc, b2), "serviceOverNxB1": ratio(svc, n as f64 * b1.renders_per_sec), "serviceOverB3": ratio(svc, b3),
                              "p99OverP50At70": {"service": tail(Kind::Service), "b2": tail(Kind::NodeCluster), "b3": tail(Kind::IsolatedVm)},
                              "memoryPerExtraWorkerMiB": extra(svc_mem), "serviceColdStartNoWarmupMs": no_warmup, "nodeProcessMiB": node_process, "ivmPerExtraIsolateMiB": extra(b3_mem)}}),
        );
    }
    let _ = writeln!(md, "\n## Memory and start-up\n\nCold start is the time from spawning the server to its first answered render. The service warms every isolate (200 renders) before it takes requests; the column without warm-up shows the start-up alone.\n\n| page | service MiB per extra worker | Node process MiB | B3 MiB per extra isolate | service/Node process | service cold start ms | without warm-up | B2 | B3 |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|\n{memory_rows}");

    let first = pages::page(&opts.pages[0])?;
    let samples = write_samples(out, &first)?;
    let (client, pool_ms, render) = overhead(&first, &samples).await?;
    let overhead_pct = (client - render) / render * 100.0;
    let dispatch_pct = (pool_ms - render) / render * 100.0;
    let _ = writeln!(
        md,
        "## HTTP + dispatch overhead\n\nOne request at a time on the {} page (keep-alive): inside the isolate {render:.3} ms; \
         pool round trip in the handler {pool_ms:.3} ms (dispatch overhead {dispatch_pct:.1}% of render time: queue, thread wake-ups, copying the HTML out); \
         as the client saw it {client:.3} ms ({overhead_pct:.1}%: adds HTTP on both sides and the transfer of the page over loopback).\n",
        first.name
    );
    let extra = scenarios(&opts, out).await?;
    let _ = writeln!(
        md,
        "## Scenarios (service, {n} workers)\n\n- mix of pages and props: {:.0} req/s, p50 {} us, p99 {} us\n- Hypernova batches of 8 App jobs: {:.0} batches/s = {:.0} renders/s, p99 {} us\n",
        extra["mixedPages"]["per_sec"].as_f64().unwrap_or(0.0),
        extra["mixedPages"]["p50_us"], extra["mixedPages"]["p99_us"],
        extra["hypernovaBatch8"]["per_sec"].as_f64().unwrap_or(0.0),
        extra["batchRendersPerSec"].as_f64().unwrap_or(0.0),
        extra["hypernovaBatch8"]["p99_us"],
    );
    let _ = writeln!(md, "Plots: `throughput-<page>.svg` (throughput by workers), `latency-<page>.svg` (latency percentiles at {n} workers).\n\nTotal run time {:.0} s.", started.elapsed().as_secs_f64());
    report.insert(
        "overhead".into(),
        json!({"clientMs": client, "poolMs": pool_ms, "renderMs": render, "clientPercent": overhead_pct, "dispatchPercent": dispatch_pct}),
    );
    report.insert("scenarios".into(), extra);
    report.insert("workers".into(), json!(n));
    std::fs::write(
        out.join("report.json"),
        serde_json::to_vec_pretty(&report).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(out.join("report.md"), &md).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!("wrote {}/report.md, report.json and plots", out.display());
    Ok(())
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}
