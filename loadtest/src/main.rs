//! `ssr-bench`: benchmarks of the render pool and of the service against
//! plain Node on the same bundles and props, run side by side on the same
//! machine. Results are ratios; absolute numbers are only context. Each
//! subcommand prints a summary and writes JSON (the report also Markdown
//! and SVG plots) to `--out`.
//!
//! ```text
//! ssr-bench [--seconds 5] [--v8-flags FLAGS] [--out loadtest/out] COMMAND
//!
//! ssr-bench pool [--pages table,divs,app,pricelist] [--workers N]
//! ssr-bench semi-space [--sizes 1,2,4,8,16,32,64] [--pages table,app]
//! ssr-bench fresh-context [--pages table,app]
//! ssr-bench code-cache [--bundle FILE --component NAME] [--runs 10]
//! ssr-bench hostile [--kinds loop,alloc,throw,deadline,encode,timers,tamper] [--percent 10] [--timeout-ms 100] [--heap-limit-mb 128]
//! ssr-bench suspense [--workers N] [--concurrency 256] [--in-flight N]
//! ssr-bench fetch [--workers N] [--concurrency 128]
//! ssr-bench versions --baseline OTHER/ssr-pool [--pages table,divs,app,pricelist]
//! ssr-bench gc [--pages table,divs,app] [--semi-spaces 32] [--workers N]
//! ssr-bench report [--pages table,divs,app] [--workers N] [--baselines b2,b3|none]
//! ```
//!
//! `pool`, `semi-space`, `fresh-context`, `code-cache` and `hostile` drive a
//! pool in this process (against `tests/node/bench.mjs` where Node is the
//! baseline); `report`, `suspense`, `fetch`, `versions` and `gc` drive `ssr-pool` binaries
//! and the Node servers of `loadtest/node/` over HTTP.

mod bench;
mod http;
mod node;
mod pages;
mod plot;
mod report;
mod servers;
mod tally;
mod upstream;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ssr-bench",
    about = "Render pool benchmarks against Node baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Seconds measured per configuration
    #[arg(long, global = true, default_value_t = 5.0)]
    seconds: f64,
    /// V8 flags for every isolate of this run
    #[arg(long, global = true, default_value = pool::platform::DEFAULT_V8_FLAGS, allow_hyphen_values = true)]
    v8_flags: String,
    /// Where JSON results are written
    #[arg(long, global = true, default_value = "loadtest/out")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// pool(1) vs Node and pool(N) vs N x Node, per page
    Pool {
        /// Pages to run (table, divs, app, pricelist)
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "table,divs,app,pricelist"
        )]
        pages: Vec<String>,
        /// Workers of the big pool [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// pool(1) throughput and p99 by young-generation semi-space size
    SemiSpace {
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "table,app")]
        pages: Vec<String>,
    },
    /// Cost per render of the fresh-context isolation mode
    FreshContext {
        #[arg(long, value_delimiter = ',', default_value = "table,app")]
        pages: Vec<String>,
    },
    /// The service over HTTP against Node baselines B1 (loop), B2 (cluster)
    /// and B3 (isolated-vm): Markdown + JSON report and SVG plots
    Report {
        #[arg(long, value_delimiter = ',', default_value = "table,divs,app")]
        pages: Vec<String>,
        /// Workers of every server [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
        /// Baselines to run beside the service (b2, b3, or none)
        #[arg(long, value_delimiter = ',', default_value = "b2,b3")]
        baselines: Vec<String>,
    },
    /// Healthy throughput while a share of requests is hostile, and the time
    /// to replace a poisoned isolate
    Hostile {
        /// Hostile kinds, used in turn
        #[arg(long, value_delimiter = ',', default_value = "loop,alloc,throw")]
        kinds: Vec<String>,
        /// Percent of requests that are hostile
        #[arg(long, default_value_t = 10)]
        percent: u32,
        /// Render deadline in milliseconds (what a loop costs)
        #[arg(long, default_value_t = 100)]
        timeout_ms: u64,
        /// Heap limit of the isolates in MiB (what a heap bomb fills)
        #[arg(long, default_value_t = 128)]
        heap_limit_mb: usize,
        /// Start isolates (replacements too) from a start-up snapshot
        #[arg(long)]
        snapshot: bool,
    },
    /// A streamed Suspense page whose boundaries wait 20/50/100 ms vs the
    /// same page without waits, over HTTP, on the service and on Node
    /// (renderToPipeableStream behind cluster)
    Suspense {
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
        /// Connections, each with one render in flight
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// The service's renders in flight per isolate [default: concurrency]
        #[arg(long)]
        in_flight: Option<usize>,
    },
    /// A page whose three sections fetch their data (20 ms upstream) vs
    /// Node's fetch, and vs the same page with the data in props
    Fetch {
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
        /// Connections, each with one render in flight
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
    },
    /// This build of the service against another build of it (e.g. the last
    /// release), whole pages over HTTP, alternating rounds
    Versions {
        /// The other build's `ssr-pool` binary
        #[arg(long)]
        baseline: PathBuf,
        /// Pages to run (table, divs, app, pricelist, stream)
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "table,divs,app,pricelist"
        )]
        pages: Vec<String>,
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Garbage collection off the render path, by parts: scavenges between
    /// renders, no allocation-site pretenuring, semi-space sizes;
    /// throughput, p99/p50 at 70% load and memory, side by side
    Gc {
        /// Pages to run (table, divs, app, pricelist, stream)
        #[arg(long, value_delimiter = ',', default_value = "table,divs,app")]
        pages: Vec<String>,
        /// Semi-space sizes (MiB) to run the default configuration with
        #[arg(long, value_delimiter = ',', default_value = "16,32")]
        semi_spaces: Vec<usize>,
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// A fresh isolate compiled cold, from the code cache, and from a
    /// start-up snapshot: time to ready, first render vs steady; and the
    /// service binary's start-up in each mode
    CodeCache {
        /// Bundle to measure [default: the largest fixture bundle]
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Component rendered after load
        #[arg(long)]
        component: Option<String>,
        /// Fresh isolates measured per mode
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Live deploys under load: render latency while bundles are deployed
    /// back to back vs steady state, upload-to-switched time, memory per
    /// live bundle per worker (with and without a memory budget)
    Deploy {
        /// The page rendered under load and deployed (table, divs, app)
        #[arg(long, default_value = "app")]
        page: String,
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// The example app as IIFE script vs esbuild ES module vs Vite SSR
    /// build: load cold and cached, first render, steady renders/s
    Formats {
        /// Fresh isolates measured per load mode
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Alternating throughput rounds
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Workers [default: available parallelism]
        #[arg(long)]
        workers: Option<usize>,
    },
}

/// The allocator the service binary uses, so pools measured in this process
/// allocate as they do in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = std::fs::create_dir_all(&cli.out) {
        eprintln!("cannot create {}: {e}", cli.out.display());
        return std::process::ExitCode::FAILURE;
    }
    if let Err(e) = pool::platform::init(&cli.v8_flags) {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let seconds = Duration::from_secs_f64(cli.seconds);
    let out = &cli.out;
    match cli.command {
        Command::Pool { pages, workers } => bench::pool::run(&pages, workers, seconds, out).await,
        Command::SemiSpace { sizes, pages } => {
            bench::semi_space::run(&pages, &sizes, seconds, out).await
        }
        Command::FreshContext { pages } => bench::fresh_context::run(&pages, seconds, out).await,
        Command::Report {
            pages,
            workers,
            baselines,
        } => {
            let options = report::Options {
                pages,
                workers: workers_or_all(workers),
                seconds,
                baselines: baseline_kinds(&baselines)?,
            };
            report::run(options, out).await
        }
        Command::Hostile {
            kinds,
            percent,
            timeout_ms,
            heap_limit_mb,
            snapshot,
        } => {
            let settings = bench::hostile::Settings {
                percent,
                timeout: Duration::from_millis(timeout_ms),
                heap_limit_mb,
                snapshot: snapshot.then_some(cli.v8_flags.as_str()),
            };
            bench::hostile::run(&kinds, &settings, seconds, out).await
        }
        Command::Suspense {
            workers,
            concurrency,
            in_flight,
        } => {
            let in_flight = in_flight.unwrap_or(concurrency);
            let workers = workers_or_all(workers);
            bench::suspense::run(workers, concurrency, in_flight, seconds, out).await
        }
        Command::Fetch {
            workers,
            concurrency,
        } => bench::fetch::run(workers_or_all(workers), concurrency, seconds, out).await,
        Command::Versions {
            baseline,
            pages,
            workers,
        } => {
            let pages = pages::pages(&pages)?;
            bench::versions::run(&baseline, &pages, workers_or_all(workers), seconds, out).await
        }
        Command::Gc {
            pages,
            semi_spaces,
            workers,
        } => {
            let pages = pages::pages(&pages)?;
            let workers = workers_or_all(workers);
            bench::gc::run(&pages, &semi_spaces, workers, seconds, out).await
        }
        Command::CodeCache {
            bundle,
            component,
            runs,
        } => bench::code_cache::run(&cli.v8_flags, bundle, component, runs, out).await,
        Command::Formats {
            runs,
            rounds,
            workers,
        } => bench::formats::run(&cli.v8_flags, runs, rounds, seconds, workers, out).await,
        Command::Deploy { page, workers } => {
            let page = pages::page(&page)?;
            bench::deploy::run(&page, workers_or_all(workers), seconds, out).await
        }
    }
}

/// `workers`, or one per core.
fn workers_or_all(workers: Option<usize>) -> usize {
    workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The servers of `--baselines` (`none` names none).
fn baseline_kinds(names: &[String]) -> Result<Vec<servers::Kind>, String> {
    names
        .iter()
        .filter(|b| *b != "none")
        .map(|b| match b.as_str() {
            "b2" => Ok(servers::Kind::NodeCluster),
            "b3" => Ok(servers::Kind::IsolatedVm),
            other => Err(format!("unknown baseline {other} (b2, b3)")),
        })
        .collect()
}
