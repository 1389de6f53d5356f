//! Command line: `serve` (the HTTP service), `render` (one render to
//! stdout) and `warm` (the build step that writes the code cache).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use bundles::{Bundle, DEFAULT_MAX_BUNDLE_BYTES};
use pool::{PoolObserver, RenderPool, RenderRequest, Sample};

use crate::example;
use crate::settings::{FileConfig, HttpArgs, PoolArgs};

/// A render service for server-side React: a pool of warm V8 isolates.
///
/// With no command, renders the embedded example app's main page to stdout.
#[derive(Debug, Parser)]
#[command(name = "ssr-pool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML config file with [pool] and [http] tables (flags and env win)
    #[arg(long, global = true, env = "SSR_POOL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of text
    #[arg(long, global = true, env = "SSR_POOL_LOG_JSON")]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP render API (native and Hypernova /batch)
    Serve {
        #[command(flatten)]
        pool: PoolArgs,
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Render one component and print the HTML
    Render {
        #[command(flatten)]
        pool: PoolArgs,
        /// Component to render [default: the example's main page]
        #[arg(long)]
        component: Option<String>,
        /// Props as JSON, or @FILE to read them from a file [default: {}]
        #[arg(long)]
        props: Option<String>,
    },
    /// Load a bundle, run sample renders and write its code cache
    Warm {
        #[command(flatten)]
        pool: PoolArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init_logging(cli.log_json);
    let file = match &cli.config {
        Some(path) => match FileConfig::read(path) {
            Ok(file) => file,
            Err(e) => return fail(&e),
        },
        None => FileConfig::default(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let command = cli.command.unwrap_or(Command::Render {
        pool: PoolArgs::default(),
        component: None,
        props: None,
    });
    let result = match command {
        Command::Render {
            pool,
            component,
            props,
        } => runtime.block_on(render(pool.or(file.pool), component, props)),
        Command::Serve { pool, http } => crate::server::run(pool.or(file.pool), http.or(file.http)),
        Command::Warm { pool } => runtime.block_on(crate::warm::run(pool.or(file.pool))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// The bundle named by `--bundle`, or the embedded example.
pub fn load_bundle(args: &PoolArgs) -> Result<Bundle, String> {
    match &args.bundle {
        Some(path) => Bundle::from_file(path, DEFAULT_MAX_BUNDLE_BYTES).map_err(|e| e.to_string()),
        None => example::bundle().map_err(|e| e.to_string()),
    }
}

/// The warm-up samples named by `--samples` (the example's own samples when
/// the example bundle is used).
pub fn load_samples(args: &PoolArgs) -> Result<Vec<Sample>, String> {
    let text = match (&args.samples, &args.bundle) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read samples {}: {e}", path.display()))?,
        (None, None) => example::EXAMPLE_SAMPLES.to_owned(),
        (None, Some(_)) => return Ok(Vec::new()),
    };
    serde_json::from_str(&text).map_err(|e| {
        format!("samples must be a JSON array of {{\"component\", \"props\"}} objects: {e}")
    })
}

/// Builds a pool from the options, with the code cache plugged in.
pub fn build_pool(
    args: &PoolArgs,
    observer: Arc<dyn PoolObserver>,
    write_cache: bool,
) -> Result<RenderPool, String> {
    let bundle = load_bundle(args)?;
    let samples = load_samples(args)?;
    let mut builder = RenderPool::builder(bundle)
        .config(args.pool_config())
        .samples(samples)
        .observer(observer)
        .v8_flags(args.v8_flags());
    if let Some(dir) = args.cache_dir() {
        let store = crate::codecache::DiskCodeCache::open(
            &dir,
            pool::platform::v8_version(),
            &args.v8_flags(),
        )
        .map_err(|e| format!("cannot use cache directory {}: {e}", dir.display()))?;
        let store = if write_cache {
            store
        } else {
            store.read_only()
        };
        builder = builder.code_cache(Arc::new(store));
    }
    builder.start().map_err(|e| e.to_string())
}

fn read_props(props: Option<String>) -> Result<String, String> {
    let text = match props {
        None => return Ok("{}".to_owned()),
        Some(p) => match p.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(Path::new(path))
                .map_err(|e| format!("cannot read props file {path}: {e}"))?,
            None => p,
        },
    };
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| format!("props are not valid JSON: {e}"))?;
    Ok(text)
}

async fn render(
    mut args: PoolArgs,
    component: Option<String>,
    props: Option<String>,
) -> Result<(), String> {
    let (component, props) = match (&args.bundle, component) {
        (_, Some(c)) => (c, read_props(props)?),
        (None, None) => (
            example::EXAMPLE_COMPONENT.to_owned(),
            match props {
                Some(_) => read_props(props)?,
                None => example::EXAMPLE_PROPS.to_owned(),
            },
        ),
        (Some(_), None) => return Err("--component is required with --bundle".into()),
    };
    // One render needs one isolate and little warm-up.
    args.workers.get_or_insert(1);
    args.warmup_renders.get_or_insert(0);
    let pool = build_pool(&args, Arc::new(pool::NoopObserver), false)?;
    pool.wait_ready().await.map_err(|e| e.to_string())?;
    let result = pool.render(RenderRequest::new(component, props)).await;
    pool.shutdown().await;
    let output = result.map_err(|e| match e {
        pool::RenderError::Js(js) => js.stack.clone().unwrap_or_else(|| js.to_string()),
        other => other.to_string(),
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.html.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write output: {e}"))
}
