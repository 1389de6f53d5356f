//! `ssr-bench fresh-context`: what the fresh-context isolation mode (a new
//! context per render) costs per render against a shared context.

use std::path::Path;
use std::time::Duration;

use pool::PoolConfig;
use serde_json::json;

use super::harness::{config, measure, write};
use crate::pages;

pub async fn run(page_names: &[String], seconds: Duration, out: &Path) -> Result<(), String> {
    let pages = pages::pages(page_names)?;
    println!(
        "{:<10} {:>12} {:>12} {:>14}",
        "page", "shared r/s", "fresh r/s", "cost/render us"
    );
    let mut rows = Vec::new();
    for page in &pages {
        let shared = measure(page, config(1), 2, seconds).await?;
        let fresh_config = PoolConfig {
            fresh_context: true,
            warmup_renders: 20,
            ..config(1)
        };
        let fresh = measure(page, fresh_config, 2, seconds).await?;
        let cost = 1e6 / fresh.renders_per_sec - 1e6 / shared.renders_per_sec;
        println!(
            "{:<10} {:>12.0} {:>12.0} {:>14.0}",
            page.name, shared.renders_per_sec, fresh.renders_per_sec, cost
        );
        rows.push(
            json!({"page": page.name, "shared": shared, "fresh": fresh, "costPerRenderUs": cost}),
        );
    }
    write(out, "fresh-context.json", &json!({"rows": rows}))
}
