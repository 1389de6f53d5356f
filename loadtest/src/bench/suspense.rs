//! `ssr-bench suspense`: a streamed Suspense page whose three boundaries
//! wait 20, 50 and 100 ms for their data, against the same page without
//! waits, on the same pool at the same concurrency. Waiting must not hold a
//! CPU: the ratio of the two throughputs is the figure (target >= 0.9).

use std::path::Path;
use std::time::Duration;

use pool::PoolConfig;
use serde_json::json;

use super::harness::{config, measure, write};
use crate::pages::Page;

/// The streaming page with its boundaries' data arriving after `delays` ms.
fn page(name: &'static str, delays: [u64; 3]) -> Result<Page, String> {
    let sections: Vec<_> = ["hero", "catalog", "reviews"]
        .iter()
        .zip(delays)
        .map(|(id, delay)| json!({"id": id, "delay": delay, "rows": 30}))
        .collect();
    Ok(Page {
        name,
        bundle: e2e::find_fixture("stream")?,
        component: "Stream",
        props: json!({ "sections": sections }).to_string(),
    })
}

pub async fn run(
    workers: Option<usize>,
    concurrency: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let config = PoolConfig {
        max_renders_in_flight: concurrency,
        ..config(workers.unwrap_or(0))
    };
    let waits = measure(
        &page("waits", [20, 50, 100])?,
        config.clone(),
        concurrency,
        seconds,
    )
    .await?;
    let instant = measure(&page("no-waits", [0, 0, 0])?, config, concurrency, seconds).await?;
    let ratio = waits.renders_per_sec / instant.renders_per_sec;
    println!(
        "no waits:               {:.0} renders/s  p50 {} us  p99 {} us",
        instant.renders_per_sec, instant.p50_us, instant.p99_us
    );
    println!(
        "waits 20/50/100 ms:     {:.0} renders/s  p50 {} us  p99 {} us  (ratio {ratio:.3})",
        waits.renders_per_sec, waits.p50_us, waits.p99_us
    );
    let body = json!({
        "concurrency": concurrency, "noWaits": instant, "waits": waits, "ratio": ratio,
    });
    write(out, "suspense.json", &body)
}
