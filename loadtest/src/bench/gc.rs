//! `ssr-bench gc`: garbage collection off the render path, by parts, side
//! by side on each page (`variants.rs`):
//! - before: no scavenges between renders (`--no-idle-gc`), V8 pretenures
//!   allocation sites;
//! - scavenges between renders alone (when a worker is about to sleep, and
//!   before it hands an isolate with no render in flight a job);
//! - no pretenuring alone (`--no-allocation-site-pretenuring`);
//! - both, the default, at each semi-space size asked for.
//!
//! Per variant: renders/s at saturation and its ratio to "before", p99/p50
//! under the same open loop (70% of "before"'s peak), and the service's
//! resident memory after the saturated round.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::harness::write;
use super::variants::{compare, Variant};
use crate::pages::Page;

/// `--v8-flags` of the variants that keep V8's pretenuring.
const PRETENURING: &str = "--single-threaded-gc";

fn variants(semi_spaces: &[usize]) -> Vec<(String, Vec<String>)> {
    let flags = |f: &str| vec!["--v8-flags".to_owned(), f.to_owned()];
    let no_idle = |mut args: Vec<String>| {
        args.push("--no-idle-gc".to_owned());
        args
    };
    let mut variants = vec![
        ("before".to_owned(), no_idle(flags(PRETENURING))),
        ("between renders".to_owned(), flags(PRETENURING)),
        (
            "no pretenuring".to_owned(),
            no_idle(flags(pool::platform::DEFAULT_V8_FLAGS)),
        ),
    ];
    for &mb in semi_spaces {
        let args = vec!["--semi-space-mb".to_owned(), mb.to_string()];
        variants.push((format!("both, semi-space {mb} MiB"), args));
    }
    variants
}

pub async fn run(
    pages: &[Page],
    semi_spaces: &[usize],
    workers: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let configs = variants(semi_spaces);
    let variants: Vec<Variant> = configs
        .iter()
        .map(|(name, args)| Variant {
            name,
            binary: None,
            args: args.clone(),
        })
        .collect();
    let mut rows = Vec::new();
    for page in pages {
        let compared = compare(&variants, page, workers, seconds).await?;
        let before = compared[0].peak.load.per_sec;
        println!(
            "{} ({workers} workers; open loop at {:.0} req/s):",
            page.name,
            0.7 * before
        );
        for c in &compared {
            println!(
                "  {:<24} {:>6.0} renders/s ({:.3}x)  p99 {:>6} us  at 70%: p50 {:>6} us p99 {:>6} us p99/p50 {:>5.2}  rss {:.0} MiB",
                c.variant,
                c.peak.load.per_sec,
                c.peak.load.per_sec / before,
                c.peak.load.p99_us,
                c.at_70.p50_us,
                c.at_70.p99_us,
                c.tail_ratio(),
                c.peak.rss_mib
            );
        }
        rows.push(json!({"page": page.name, "variants": compared}));
    }
    write(out, "gc.json", &json!({"workers": workers, "rows": rows}))
}
