//! `ssr-bench formats`: the example app built three ways (esbuild's IIFE
//! script, esbuild's ES module, Vite's SSR build of an entry and a chunk):
//! load time cold and from the code cache, the first render after each, and
//! steady renders/s in alternating rounds, each relative to the IIFE build.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pool::CodeCacheStore;
use serde_json::json;

use super::code_cache::{loads, produce, Load, MemoryStore};
use super::harness::{config, load, measure, median, write};
use crate::pages::Page;

const COMPONENT: &str = "Home";

fn builds() -> Result<Vec<(&'static str, PathBuf)>, String> {
    let root = e2e::repo_root();
    let fixtures = root.join("tests/fixtures/build");
    [
        ("esbuild-iife", root.join("examples/app/dist/server.js")),
        ("esbuild-esm", fixtures.join("example-esm/server.mjs")),
        ("vite-ssr", fixtures.join("example-vite/server.js")),
    ]
    .into_iter()
    .map(|(label, path)| Ok((label, e2e::existing(path, "run tests/setup.sh")?)))
    .collect()
}

pub async fn run(
    flags: &str,
    runs: usize,
    rounds: usize,
    seconds: Duration,
    workers: Option<usize>,
    out: &Path,
) -> Result<(), String> {
    let props = std::fs::read_to_string(e2e::repo_root().join("examples/app/props/home.json"))
        .map_err(|e| e.to_string())?;
    let builds = builds()?;
    let mut results = serde_json::Map::new();
    for (label, path) in &builds {
        let bundle = load(path)?;
        let (cache, steady) = produce(&bundle, flags, COMPONENT).await?;
        let store: Arc<dyn CodeCacheStore> = Arc::new(MemoryStore {
            bytes: Mutex::new(Some(cache.clone())),
            serve: true,
        });
        let cold = loads(&bundle, None, false, COMPONENT, runs).await?;
        let cached = loads(&bundle, Some(store), false, COMPONENT, runs).await?;
        let show = |mode: &str, l: &Load| {
            println!(
                "{label:<13} {mode:<6} compile {:>7.2} ms  evaluate {:>7.2} ms  first render {:>7.2} ms",
                l.compile, l.evaluate, l.first
            )
        };
        show("cold", &cold);
        show("cached", &cached);
        let as_json = |l: &Load| json!({"compileMs": l.compile, "evaluateMs": l.evaluate, "firstRenderMs": l.first});
        results.insert(
            (*label).into(),
            json!({
                "format": bundle.format().as_str(), "files": bundle.files().len(),
                "bytes": bundle.len(), "cacheBytes": cache.len(), "steadyRenderMs": steady,
                "cold": as_json(&cold), "cached": as_json(&cached),
            }),
        );
    }

    // Throughput, the builds alternating so drift on a shared machine hits
    // them alike.
    let mut per_build: Vec<Vec<f64>> = vec![Vec::new(); builds.len()];
    for round in 0..rounds {
        for (i, (label, path)) in builds.iter().enumerate() {
            let page = Page {
                name: label,
                bundle: path.clone(),
                component: COMPONENT,
                props: props.clone(),
            };
            let workers = workers.unwrap_or(0);
            let run = measure(&page, config(workers), 32, seconds).await?;
            if run.errors > 0 {
                return Err(format!("{label}: {} failed renders", run.errors));
            }
            println!(
                "round {} {label:<13} {:>8.0} renders/s",
                round + 1,
                run.renders_per_sec
            );
            per_build[i].push(run.renders_per_sec);
        }
    }
    // Each round's rate over the IIFE build's in the same round, so slow
    // phases of the machine cancel out; the median of those ratios.
    for (i, (label, _)) in builds.iter().enumerate() {
        let mut ratios: Vec<f64> = (0..rounds)
            .map(|round| per_build[i][round] / per_build[0][round])
            .collect();
        let ratio = median(&mut ratios);
        let rate = median(&mut per_build[i].clone());
        println!(
            "{label:<13} {rate:>8.0} renders/s  {ratio:.3}x the IIFE build (median of rounds)"
        );
        let entry = results.get_mut(*label).expect("measured above");
        entry["rendersPerSec"] = json!(rate);
        entry["rendersPerSecOverIife"] = json!(ratio);
        entry["rounds"] = json!(per_build[i]);
    }
    write(
        out,
        "formats.json",
        &json!({
            "component": COMPONENT, "runs": runs, "rounds": rounds, "seconds": seconds.as_secs_f64(),
            "v8Flags": flags, "results": results,
        }),
    )
}
