//! `ssr-bench versions --baseline BINARY`: this build of the service
//! against another build of it (say, of the last release), over HTTP on the
//! same pages, side by side (`variants.rs`): whether a change made
//! whole-page renders faster or slower, and its tail under the same load.
//! Throughput on this shared machine varies by up to 9% between two runs of
//! one build (an A/A run); the CPU time per render varies less.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::harness::write;
use super::variants::{compare, Variant};
use crate::pages::Page;

pub async fn run(
    baseline: &Path,
    pages: &[Page],
    workers: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let variants = [
        Variant {
            name: "baseline",
            binary: Some(baseline),
            args: Vec::new(),
        },
        Variant {
            name: "current",
            binary: None,
            args: Vec::new(),
        },
    ];
    println!("page         r/s ratio   p99 current/baseline (us)   cpu ms/render current/baseline   at 70%: p99/p50 current/baseline");
    let mut rows = Vec::new();
    for page in pages {
        let [base, current] = <[_; 2]>::try_from(compare(&variants, page, workers, seconds).await?)
            .map_err(|_| "two variants, two results")?;
        let ratio = current.peak.load.per_sec / base.peak.load.per_sec;
        println!(
            "{:<12} {ratio:>9.3}   {:>8} / {:<8}              {:.3} / {:.3}                    {:.2} / {:.2}",
            page.name,
            current.peak.load.p99_us,
            base.peak.load.p99_us,
            current.peak.cpu_ms_per_render,
            base.peak.cpu_ms_per_render,
            current.tail_ratio(),
            base.tail_ratio(),
        );
        rows.push(json!({"page": page.name, "current": current, "baseline": base, "ratio": ratio}));
    }
    let body = json!({
        "baseline": baseline.display().to_string(), "workers": workers, "rows": rows,
    });
    write(out, "versions.json", &body)
}
