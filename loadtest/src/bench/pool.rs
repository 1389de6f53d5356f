//! `ssr-bench pool`: pool(1) against one Node loop and pool(N) against N
//! Node loops, per page, on the same bundle and props.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::harness::{config, measure, write};
use crate::node;
use crate::pages::{self, Page};

pub async fn run(
    page_names: &[String],
    workers: Option<usize>,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let pages = pages::pages(page_names)?;
    let n = workers.unwrap_or_else(|| config(0).worker_count());
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>14} {:>18}",
        "page",
        "node r/s",
        "pool(1)",
        format!("pool({n})"),
        "pool(1)/node",
        format!("pool({n})/({n}xnode)")
    );
    let mut rows = Vec::new();
    for page in &pages {
        rows.push(compare(page, n, seconds).await?);
    }
    write(
        out,
        "pool-vs-node.json",
        &json!({"seconds": seconds.as_secs_f64(), "rows": rows}),
    )
}

/// Node, pool(1) and pool(`n`) on `page`: prints the row, returns it as JSON.
async fn compare(page: &Page, n: usize, seconds: Duration) -> Result<serde_json::Value, String> {
    let node = node::bench(page, seconds)?;
    let run1 = measure(page, config(1), 2, seconds).await?;
    let run_n = measure(page, config(n), 2 * n, seconds).await?;
    let r1 = run1.renders_per_sec / node.renders_per_sec;
    let rn = run_n.renders_per_sec / (n as f64 * node.renders_per_sec);
    println!(
        "{:<10} {:>10.0} {:>10.0} {:>10.0} {:>14.2} {:>18.2}",
        page.name, node.renders_per_sec, run1.renders_per_sec, run_n.renders_per_sec, r1, rn
    );
    Ok(json!({
        "page": page.name, "workers": n, "node": {"rendersPerSec": node.renders_per_sec, "meanUs": node.mean_us, "renders": node.renders},
        "pool1": run1, "poolN": run_n, "pool1OverNode": r1, "poolNOverNTimesNode": rn,
    }))
}
