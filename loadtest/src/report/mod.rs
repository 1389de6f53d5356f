//! `ssr-bench report`: the service against the Node baselines, side by side
//! in one invocation, on the same bundles, props and machine. Writes
//! `report.md`, `report.json` and SVG plots.
//!
//! - B1: plain Node `renderToString` in a loop, one thread.
//! - B2: a Node `http` server with `cluster`, N workers.
//! - B3: a Node server rendering through a pool of isolated-vm isolates.
//!
//! [`measure`] runs everything into [`results::Report`]; [`markdown`],
//! [`json`] and [`plots`] each write it one way.

mod hand_off;
mod json;
mod markdown;
mod measure;
mod plots;
mod results;

use std::path::Path;
use std::time::Duration;

use crate::servers::Kind;

pub struct Options {
    pub pages: Vec<String>,
    pub workers: usize,
    pub seconds: Duration,
    pub baselines: Vec<Kind>,
}

pub async fn run(opts: Options, out: &Path) -> Result<(), String> {
    let report = measure::report(&opts, out).await?;
    plots::write(&report, out)?;
    let json = json::render(&report);
    std::fs::write(
        out.join("report.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    let md = markdown::render(&report);
    std::fs::write(out.join("report.md"), &md).map_err(|e| e.to_string())?;
    println!("{md}");
    eprintln!("wrote {}/report.md, report.json and plots", out.display());
    Ok(())
}
