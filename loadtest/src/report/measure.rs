//! The measurements of a report: every server kind on every page, the HTTP
//! and dispatch overhead, and the extra scenarios on the service.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hand_off;
use super::results::{KindResult, Overhead, PageResult, Report, Scenarios, BATCH_JOBS};
use super::Options;
use crate::http::{self, Call, LoadResult};
use crate::node;
use crate::pages::{self, Page};
use crate::servers::{Kind, Server};

/// Measures everything a report shows, writing the services' sample files
/// to `out`.
pub async fn report(opts: &Options, out: &Path) -> Result<Report, String> {
    let started = Instant::now();
    let pages = pages::pages(&opts.pages)?;
    let mut results = Vec::new();
    for page in &pages {
        results.push(page_result(page, opts, out).await?);
    }
    let first = pages.first().ok_or("no pages to measure")?;
    let overhead = overhead(first, out).await?;
    let scenarios = scenarios(opts, out).await?;
    Ok(Report {
        workers: opts.workers,
        seconds: opts.seconds,
        pages: results,
        overhead,
        scenarios,
        elapsed: started.elapsed(),
    })
}

/// The Node loop and every server kind on `page`; a kind that fails is
/// left out.
async fn page_result(page: &Page, opts: &Options, out: &Path) -> Result<PageResult, String> {
    eprintln!("page {}", page.name);
    let samples = write_samples(out, page)?;
    let b1 = node::bench(page, opts.seconds)?;
    eprintln!("  B1 node loop      {:>8.0} renders/s", b1.renders_per_sec);
    let mut kinds = BTreeMap::new();
    for kind in std::iter::once(Kind::Service).chain(opts.baselines.iter().copied()) {
        match measure_kind(kind, page, opts, &samples).await {
            Ok(r) => {
                kinds.insert(kind.label(), r);
            }
            Err(e) => eprintln!("  {} skipped: {e}", kind.label()),
        }
    }
    Ok(PageResult {
        name: page.name,
        workers: opts.workers,
        b1,
        kinds,
        no_warmup_ms: cold_start_without_warmup(page, opts.workers).await?,
        isolate_start: isolate_start(page, out)?,
    })
}

/// `ssr-bench code-cache` on `page`, in a process of its own (a process
/// starts from at most one snapshot); its results.
fn isolate_start(page: &Page, out: &Path) -> Result<serde_json::Value, String> {
    let dir = out.join(format!("isolate-start-{}", page.name));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let run = std::process::Command::new(exe)
        .arg("code-cache")
        .arg("--bundle")
        .arg(&page.bundle)
        .args(["--component", page.component, "--out"])
        .arg(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !run.status.success() {
        return Err(format!(
            "code-cache on {} failed: {}",
            page.name,
            String::from_utf8_lossy(&run.stderr)
        ));
    }
    let json = std::fs::read(dir.join("code-cache.json")).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

/// Closed loops at 1..=N workers, memory at 1 and N, and at N the cold
/// start and an open loop at 70% of the peak.
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
        let run = closed_loop(server.addr, calls.clone(), 2 * workers, opts.seconds).await?;
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

/// `connections` connections looping over `calls` for `seconds` after 1 s of
/// warm-up.
async fn closed_loop(
    addr: SocketAddr,
    calls: Arc<Vec<Call>>,
    connections: usize,
    seconds: Duration,
) -> Result<LoadResult, String> {
    let warmup = Duration::from_secs(1);
    http::closed_loop(addr, calls, connections, warmup, seconds, u64::MAX).await
}

/// Service arguments that warm it up with `samples`.
fn samples_args(samples: &Path) -> Vec<String> {
    vec!["--samples".into(), samples.display().to_string()]
}

/// A samples file of `page` alone, for the service's warm-up.
fn write_samples(dir: &Path, page: &Page) -> Result<PathBuf, String> {
    let path = dir.join(format!("samples-{}.json", page.name));
    let body = format!(
        r#"[{{"component":"{}","props":{}}}]"#,
        page.component, page.props
    );
    std::fs::write(&path, body).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Time from spawn to the first answered render with no warm-up renders
/// (the default warm-up trades start-up time for first-request latency).
async fn cold_start_without_warmup(page: &Page, workers: usize) -> Result<f64, String> {
    let call = Call::render(page.component, &page.props);
    let args = ["--warmup-renders".to_owned(), "0".to_owned()];
    let server = Server::start(Kind::Service, &page.bundle, workers, &call, &args).await?;
    Ok(server.cold_start.as_secs_f64() * 1e3)
}

/// HTTP + dispatch overhead: client latency and the pool round trip vs
/// the time inside the isolate (the service's Server-Timing header), one
/// request at a time on one keep-alive connection, after 100 unmeasured.
async fn overhead(page: &Page, out: &Path) -> Result<Overhead, String> {
    let samples = write_samples(out, page)?;
    let call = Call::render(page.component, &page.props);
    let server = Server::start(
        Kind::Service,
        &page.bundle,
        1,
        &call,
        &samples_args(&samples),
    )
    .await?;
    let timings = http::timed_sequence(server.addr, &call, 600).await?;
    drop(server);
    let measured = &timings[100..];
    let mean =
        |f: fn(&http::Timed) -> f64| measured.iter().map(f).sum::<f64>() / measured.len() as f64;
    let (client, pool, render) = (mean(|t| t.client), mean(|t| t.pool), mean(|t| t.render));
    // The same hand-offs without V8 or HTTP, around as long a render and
    // as long a pause between requests.
    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1e3);
    let (render_time, between) = (ms(render), ms(client - pool));
    let floor = tokio::task::spawn_blocking(move || hand_off::measure(render_time, between, 500))
        .await
        .map_err(|e| e.to_string())??;
    Ok(Overhead {
        page: page.name,
        client,
        pool,
        render,
        queue: mean(|t| t.queue),
        floor,
    })
}

/// Extra scenarios on the service: a mix of pages and props, and batches.
async fn scenarios(opts: &Options, dir: &Path) -> Result<Scenarios, String> {
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
    let mixed = closed_loop(server.addr, Arc::new(mix), 2 * opts.workers, opts.seconds).await?;
    let batch = Call::batch(&[("App", "{}"); BATCH_JOBS]);
    let batches = closed_loop(
        server.addr,
        Arc::new(vec![batch]),
        opts.workers,
        opts.seconds,
    )
    .await?;
    let scenarios = Scenarios { mixed, batches };
    eprintln!(
        "  mixed pages {:.0} req/s; batches of {BATCH_JOBS}: {:.0} batches/s ({:.0} renders/s)",
        scenarios.mixed.per_sec,
        scenarios.batches.per_sec,
        scenarios.batch_renders_per_sec()
    );
    Ok(scenarios)
}
