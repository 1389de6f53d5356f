//! Command line: `serve` (the HTTP service), `render` (one render to
//! stdout) and `warm` (the build step that writes the code cache). Parsing
//! only: every command builds through `startup`.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use pool::RenderRequest;

use crate::example;
use crate::settings::{self, HttpArgs, PoolArgs, ServiceConfig};
use crate::startup::{self, Application, CacheAccess};

/// A render service for server-side React: a pool of warm V8 isolates.
///
/// With no command, renders the embedded example app's main page to stdout.
#[derive(Debug, Parser)]
#[command(name = "ssr-pool", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML config file with [pool] and [http] tables (flags and environment win)
    #[arg(long, global = true, env = "SSR_POOL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines instead of text
    #[arg(long, global = true, env = "SSR_POOL_LOG_JSON", value_parser = clap::builder::BoolishValueParser::new())]
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
    /// Upload a bundle to a running service, wait until it is warm, and switch an app to it
    Deploy {
        /// The service's admin API (http://host:port)
        #[arg(long, env = "SSR_POOL_SERVER")]
        server: String,
        /// The bundle file
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Warm-up samples (JSON array of {component, props}); a failing one refuses the bundle
        #[arg(long, value_name = "FILE")]
        samples: Option<PathBuf>,
        /// The app to switch
        #[arg(long, default_value = pool::DEFAULT_APP)]
        app: String,
        /// File holding the admin token
        #[arg(long, env = "SSR_POOL_ADMIN_TOKEN_FILE", value_name = "FILE")]
        admin_token_file: PathBuf,
        /// Longest wait for the upload and warm-up, in seconds
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Take a start-up snapshot as the service asks on standard input (the
    /// service runs this in a child process)
    #[command(name = crate::snapshot::CHILD_COMMAND, hide = true)]
    TakeSnapshot,
}

/// The config file named by `--config FILE`, `--config=FILE` or
/// `SSR_POOL_CONFIG`, found before parsing so its values can become the
/// defaults of the real parse.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(|p| PathBuf::from(p.as_ref()));
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("SSR_POOL_CONFIG").map(PathBuf::from)
}

/// Parses the command line with the config file's values as defaults.
pub fn parse(args: Vec<OsString>) -> Result<Cli, String> {
    let mut command = Cli::command();
    if let Some(path) = config_path(&args) {
        command = settings::apply_file(command, &path)?;
    }
    let matches = command
        .try_get_matches_from(args)
        .unwrap_or_else(|e| e.exit());
    Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
}

pub fn main() -> ExitCode {
    let cli = match parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(message) => return fail(&message),
    };
    crate::telemetry::init_logging(cli.log_json);
    let result = match cli.command {
        Some(Command::Serve { pool, http }) => serve(pool.service_config(Some(&http))),
        Some(Command::Warm { pool }) => block_on(crate::warm::run(pool.service_config(None))),
        Some(Command::Render {
            pool,
            component,
            props,
        }) => block_on(render(pool.service_config(None), component, props)),
        Some(Command::Deploy {
            server,
            bundle,
            samples,
            app,
            admin_token_file,
            timeout_secs,
        }) => read_token(&admin_token_file).and_then(|token| {
            let deploy = crate::deploy::Deploy {
                server: &server,
                bundle: &bundle,
                samples: samples.as_deref(),
                app: &app,
                token,
                timeout: std::time::Duration::from_secs(timeout_secs),
            };
            crate::deploy::run(&deploy, &mut std::io::stdout())
        }),
        Some(Command::TakeSnapshot) => crate::snapshot::run_child(),
        None => block_on(render(ServiceConfig::example(), None, None)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read admin token {}: {e}", path.display()))?;
    Ok(text.trim().to_owned())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

fn block_on(future: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(future)
}

/// `serve`: the HTTP service until SIGTERM/SIGINT (graceful stop).
fn serve(config: ServiceConfig) -> Result<(), String> {
    actix_web::rt::System::new()
        .block_on(async move { Application::build(config)?.run_until_stopped().await })
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

/// `render`: one render with one isolate and no warm-up, to stdout.
async fn render(
    mut config: ServiceConfig,
    component: Option<String>,
    props: Option<String>,
) -> Result<(), String> {
    let (component, props) = match (&config.bundle, component) {
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
    config.pool.workers = 1;
    config.pool.warmup_renders = 0;
    let pool = startup::build_pool(&config, Arc::new(pool::NoopObserver), CacheAccess::ReadOnly)?;
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
