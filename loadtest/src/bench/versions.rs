//! `ssr-bench versions --baseline BINARY`: this build of the service
//! against another build of it (say, of the last release), over HTTP on the
//! same pages, in alternating rounds: whether a change made whole-page
//! renders faster or slower.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::harness::{median, write};
use crate::http::{self, Call};
use crate::pages::Page;
use crate::servers::{Kind, Server};

/// Rounds per page; each round measures both builds, in turn.
const ROUNDS: usize = 3;

/// Requests per second and p99 (us) of one closed-loop run of the build at
/// `binary` (None: this build) on `page`.
async fn measure(
    binary: Option<&Path>,
    page: &Page,
    workers: usize,
    seconds: Duration,
) -> Result<(f64, f64), String> {
    let call = Call::render(page.component, &page.props);
    let server = match binary {
        Some(binary) => Server::start_service_from(binary, &page.bundle, workers, &call, &[]).await,
        None => Server::start(Kind::Service, &page.bundle, workers, &call, &[]).await,
    }?;
    let warmup = Duration::from_secs(1);
    let calls = Arc::new(vec![call]);
    let run = http::closed_loop(server.addr, calls, 2 * workers, warmup, seconds, u64::MAX).await?;
    Ok((run.per_sec, run.p99_us as f64))
}

pub async fn run(
    baseline: &Path,
    pages: &[Page],
    workers: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    println!("page         current r/s  baseline r/s  ratio   current p99  baseline p99");
    let mut rows = Vec::new();
    for page in pages {
        let (mut current, mut base) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            current.push(measure(None, page, workers, seconds).await?);
            base.push(measure(Some(baseline), page, workers, seconds).await?);
        }
        let (mut c_rate, mut c_p99): (Vec<f64>, Vec<f64>) = current.into_iter().unzip();
        let (mut b_rate, mut b_p99): (Vec<f64>, Vec<f64>) = base.into_iter().unzip();
        let (c_rate, b_rate) = (median(&mut c_rate), median(&mut b_rate));
        let (c_p99, b_p99) = (median(&mut c_p99), median(&mut b_p99));
        let ratio = c_rate / b_rate;
        println!(
            "{:<12} {c_rate:>11.0} {b_rate:>13.0} {ratio:>6.3} {c_p99:>12.0} {b_p99:>13.0}",
            page.name
        );
        rows.push(json!({
            "page": page.name, "currentPerSec": c_rate, "baselinePerSec": b_rate,
            "ratio": ratio, "currentP99Us": c_p99, "baselineP99Us": b_p99,
        }));
    }
    let body = json!({
        "baseline": baseline.display().to_string(), "workers": workers,
        "rounds": ROUNDS, "rows": rows,
    });
    write(out, "versions.json", &body)
}
