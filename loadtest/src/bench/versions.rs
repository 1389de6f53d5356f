//! `ssr-bench versions --baseline BINARY`: this build of the service
//! against another build of it (say, of the last release), over HTTP on the
//! same pages, in alternating rounds: whether a change made whole-page
//! renders faster or slower. Throughput on this shared machine varies by
//! up to 9% between two runs of one build (an A/A run); the CPU time per
//! render varies less.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::harness::write;
use super::rounds::{measure, median_round, Measured};
use crate::http::Call;
use crate::pages::Page;
use crate::servers::{Kind, Server};

/// Rounds per page; each round measures both builds, the first one of a
/// round alternating (whichever ran second measured faster).
const ROUNDS: usize = 4;

/// One round of the build at `binary` (None: this build) on `page`.
async fn round(
    binary: Option<&Path>,
    page: &Page,
    workers: usize,
    seconds: Duration,
) -> Result<Measured, String> {
    let call = Call::render(page.component, &page.props);
    let server = match binary {
        Some(binary) => Server::start_service_from(binary, &page.bundle, workers, &call, &[]).await,
        None => Server::start(Kind::Service, &page.bundle, workers, &call, &[]).await,
    }?;
    measure(&server, call, 2 * workers, seconds).await
}

pub async fn run(
    baseline: &Path,
    pages: &[Page],
    workers: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    println!("page         r/s ratio   p99 current/baseline (us)   cpu ms/render current/baseline");
    let mut rows = Vec::new();
    for page in pages {
        let (mut current, mut base) = (Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let order = if i % 2 == 0 {
                [None, Some(baseline)]
            } else {
                [Some(baseline), None]
            };
            for binary in order {
                let measured = round(binary, page, workers, seconds).await?;
                match binary {
                    None => current.push(measured),
                    Some(_) => base.push(measured),
                }
            }
        }
        let (current, base) = (median_round(current), median_round(base));
        let ratio = current.load.per_sec / base.load.per_sec;
        println!(
            "{:<12} {ratio:>9.3}   {:>8} / {:<8}              {:.3} / {:.3}",
            page.name,
            current.load.p99_us,
            base.load.p99_us,
            current.cpu_ms_per_render,
            base.cpu_ms_per_render
        );
        rows.push(json!({"page": page.name, "current": current, "baseline": base, "ratio": ratio}));
    }
    let body = json!({
        "baseline": baseline.display().to_string(), "workers": workers,
        "rounds": ROUNDS, "rows": rows,
    });
    write(out, "versions.json", &body)
}
