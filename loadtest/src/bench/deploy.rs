//! `ssr-bench deploy`: live deploys of the service under load. Over HTTP,
//! side by side in one run:
//! - render latency while bundles are deployed back to back (`ssr-pool
//!   deploy`: upload, warm on every worker, switch) vs steady state, on the
//!   same server, in alternating rounds;
//! - the time from the start of an upload to the switched app;
//! - resident memory with one live bundle before and after those deploys;
//! - resident memory per live bundle per worker (apps added one by one),
//!   and with a worker memory budget that holds fewer isolates than there
//!   are live bundles.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{median, write};
use crate::http::{self, Call, LoadResult};
use crate::pages::Page;
use crate::servers::{Kind, Server};

/// Rounds of steady state and of deploying, alternating.
const ROUNDS: usize = 3;
/// Live bundles in the memory measurement.
const LIVE_BUNDLES: usize = 4;

const TOKEN: &str = "bench-admin-token";

/// A scratch directory: the admin token, the cache, the bundle variants.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("token"), TOKEN).map_err(|e| e.to_string())?;
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The service's arguments for an admin API and a registry here.
    fn args(&self, cache: &str, extra: &[String]) -> Vec<String> {
        let mut args = vec![
            "--cache-dir".to_owned(),
            self.path(cache).display().to_string(),
            "--admin-token-file".to_owned(),
            self.path("token").display().to_string(),
        ];
        args.extend_from_slice(extra);
        args
    }

    /// The page's bundle with a comment that gives it its own hash: what a
    /// rebuild of the same app looks like to the service.
    fn variant(&self, page: &Page, n: usize) -> Result<PathBuf, String> {
        let mut bytes = std::fs::read(&page.bundle).map_err(|e| e.to_string())?;
        bytes.extend_from_slice(format!("\n// build {n}\n").as_bytes());
        let path = self.path(&format!("build-{n}.js"));
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

/// Runs `ssr-pool deploy` for `bundle` to `app`; the time it took.
async fn deploy(
    server: &Server,
    scratch: &Scratch,
    bundle: &Path,
    app: &str,
) -> Result<Duration, String> {
    let mut command = std::process::Command::new(crate::servers::service_binary()?);
    command
        .arg("deploy")
        .arg("--server")
        .arg(format!("http://{}", server.addr))
        .arg("--bundle")
        .arg(bundle)
        .arg("--app")
        .arg(app)
        .arg("--admin-token-file")
        .arg(scratch.path("token"));
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot run ssr-pool deploy: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "deploy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(started.elapsed())
}

/// Renders of `call` for `seconds` while, when `deploying`, bundles are
/// deployed back to back; the load and each deploy's time.
async fn round(
    server: &Server,
    scratch: &Scratch,
    page: &Page,
    call: &Call,
    connections: usize,
    seconds: Duration,
    deploying: Option<&mut usize>,
) -> Result<(LoadResult, Vec<Duration>), String> {
    let calls = Arc::new(vec![call.clone()]);
    let load = tokio::spawn(http::closed_loop(
        server.addr,
        calls,
        connections,
        Duration::ZERO,
        seconds,
        u64::MAX,
    ));
    let mut times = Vec::new();
    if let Some(next) = deploying {
        let end = Instant::now() + seconds;
        while Instant::now() < end {
            *next += 1;
            let bundle = scratch.variant(page, *next)?;
            times.push(deploy(server, scratch, &bundle, "default").await?);
        }
    }
    let load = load.await.map_err(|e| e.to_string())??;
    Ok((load, times))
}

/// Resident memory of the server in MiB once `apps` apps each serve their
/// own bundle (one more app per step), after a render of each.
async fn memory_by_live_bundles(
    server: &Server,
    scratch: &Scratch,
    page: &Page,
    first_variant: usize,
) -> Result<Vec<f64>, String> {
    let mut rss = Vec::new();
    for k in 1..=LIVE_BUNDLES {
        if k > 1 {
            let bundle = scratch.variant(page, first_variant + k)?;
            deploy(server, scratch, &bundle, &format!("app{k}")).await?;
        }
        for app in 1..=k {
            let app = if app == 1 {
                "default".to_owned()
            } else {
                format!("app{app}")
            };
            let body = format!(
                r#"{{"component":"{}","props":{},"app":"{app}"}}"#,
                page.component, page.props
            );
            let call = Call {
                body: body.into(),
                ..Call::render(page.component, &page.props)
            };
            let (status, _) = http::request(server.addr, &call).await?;
            if status != 200 {
                return Err(format!("render of {app} answered {status}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss.push(server.rss_kib().0 as f64 / 1024.0);
    }
    Ok(rss)
}

fn summary(loads: &[LoadResult]) -> serde_json::Value {
    let pick = |f: fn(&LoadResult) -> f64| {
        let mut values: Vec<f64> = loads.iter().map(f).collect();
        median(&mut values)
    };
    json!({
        "per_sec": pick(|l| l.per_sec),
        "p50_us": pick(|l| l.p50_us as f64),
        "p99_us": pick(|l| l.p99_us as f64),
        "max_us": pick(|l| l.max_us as f64),
        "errors": loads.iter().map(|l| l.errors).sum::<u64>(),
        "rounds": loads,
    })
}

pub async fn run(page: &Page, workers: usize, seconds: Duration, out: &Path) -> Result<(), String> {
    let scratch = Scratch::new()?;
    let call = Call::render(page.component, &page.props);
    let server = Server::start(
        Kind::Service,
        &page.bundle,
        workers,
        &call,
        &scratch.args("cache", &[]),
    )
    .await?;
    let connections = 2 * workers;
    // Warm the JIT and the connections before anything is measured.
    round(
        &server,
        &scratch,
        page,
        &call,
        connections,
        Duration::from_secs(1),
        None,
    )
    .await?;
    let rss_before_deploys = server.rss_kib().0 as f64 / 1024.0;
    let (mut steady, mut during, mut times) = (Vec::new(), Vec::new(), Vec::new());
    let mut next_variant = 0;
    for _ in 0..ROUNDS {
        let (load, _) = round(&server, &scratch, page, &call, connections, seconds, None).await?;
        steady.push(load);
        let deploying = Some(&mut next_variant);
        let (load, took) = round(
            &server,
            &scratch,
            page,
            &call,
            connections,
            seconds,
            deploying,
        )
        .await?;
        during.push(load);
        times.extend(took);
    }
    let (steady, during) = (summary(&steady), summary(&during));
    let p99_ratio = during["p99_us"].as_f64().unwrap() / steady["p99_us"].as_f64().unwrap();
    let throughput_ratio =
        during["per_sec"].as_f64().unwrap() / steady["per_sec"].as_f64().unwrap();
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
    let deploy_ms = median(&mut ms);
    println!(
        "{}: p99 during deploys / steady = {p99_ratio:.2} ({} / {} us), throughput {throughput_ratio:.2}x, {} deploys, upload to switched {deploy_ms:.0} ms (median)",
        page.name, during["p99_us"], steady["p99_us"], times.len()
    );

    let rss = memory_by_live_bundles(&server, &scratch, page, next_variant).await?;
    println!(
        "RSS MiB with one live bundle: {rss_before_deploys:.0} before the deploys, {:.0} after {} of them",
        rss[0],
        times.len()
    );
    drop(server);
    let per_bundle_per_worker =
        (rss[LIVE_BUNDLES - 1] - rss[0]) / (LIVE_BUNDLES - 1) as f64 / workers as f64;
    println!("RSS MiB by live bundles (1..{LIVE_BUNDLES}): {rss:.0?}; per live bundle per worker {per_bundle_per_worker:.1} MiB");

    // A budget for two isolates per worker, with four live bundles.
    let budget_mb = (2.0 * per_bundle_per_worker).ceil().max(1.0) as usize;
    let budget = [
        "--worker-memory-budget-mb".to_owned(),
        budget_mb.to_string(),
    ];
    let server = Server::start(
        Kind::Service,
        &page.bundle,
        workers,
        &call,
        &scratch.args("cache-budget", &budget),
    )
    .await?;
    let rss_budget = memory_by_live_bundles(&server, &scratch, page, next_variant + 100).await?;
    drop(server);
    println!("with --worker-memory-budget-mb {budget_mb}: RSS MiB {rss_budget:.0?}");

    let body = json!({
        "page": page.name, "workers": workers, "seconds": seconds.as_secs_f64(),
        "connections": connections, "rounds": ROUNDS,
        "steady": steady, "during_deploys": during,
        "p99_during_over_steady": p99_ratio,
        "throughput_during_over_steady": throughput_ratio,
        "deploys": times.len(), "upload_to_switched_ms_median": deploy_ms,
        "upload_to_switched_ms": ms,
        "rss_mib_before_deploys": rss_before_deploys,
        "rss_mib_by_live_bundles": rss,
        "rss_mib_per_live_bundle_per_worker": per_bundle_per_worker,
        "budget_mb": budget_mb,
        "rss_mib_by_live_bundles_with_budget": rss_budget,
    });
    write(out, "deploy.json", &body)
}
