//! `ssr-bench semi-space`: pool(1) throughput and latency by the size of the
//! young generation's semi-space.

use std::path::Path;
use std::time::Duration;

use pool::PoolConfig;
use serde_json::json;

use super::harness::{config, measure, write};
use crate::pages;

pub async fn run(
    page_names: &[String],
    sizes: &[usize],
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let pages = pages::pages(page_names)?;
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10}",
        "page", "semi MB", "r/s", "p50 us", "p99 us"
    );
    let mut rows = Vec::new();
    for page in &pages {
        for &mb in sizes {
            let config = PoolConfig {
                semi_space_mb: mb,
                ..config(1)
            };
            let run = measure(page, config, 2, seconds).await?;
            println!(
                "{:<10} {:>8} {:>10.0} {:>10} {:>10}",
                page.name, mb, run.renders_per_sec, run.p50_us, run.p99_us
            );
            rows.push(json!({"page": page.name, "semiSpaceMb": mb, "run": run}));
        }
    }
    write(
        out,
        "semi-space.json",
        &json!({"seconds": seconds.as_secs_f64(), "rows": rows}),
    )
}
