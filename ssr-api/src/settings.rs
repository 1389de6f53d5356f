//! The service's settings. Each is declared once, here: a clap argument with
//! its flag, `SSR_POOL_*` environment variable, default and help text (the
//! doc comment). A TOML file (`--config`) may set the same names, with
//! underscores, in `[pool]` and `[http]` tables; its values become the
//! defaults, so flags win over the environment, which wins over the file.
//!
//! The parsed arguments resolve into [`ServiceConfig`], the typed
//! configuration start-up takes (and tests build directly).

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Command, FromArgMatches};

use bundles::BundleFormat;
use pool::PoolConfig;

const D: PoolConfig = PoolConfig::DEFAULT;

/// Options shared by `serve`, `render` and `warm`: what to load and how to
/// run the isolates.
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// Server bundle to load [default: the embedded example app]
    #[arg(long, env = "SSR_POOL_BUNDLE", value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// How to compile the bundle: a classic script or an ES module (auto: `.mjs` is a module, else a file that only parses as a module)
    #[arg(long, env = "SSR_POOL_BUNDLE_FORMAT", value_enum, default_value_t = FormatArg::Auto)]
    pub bundle_format: FormatArg,
    /// Largest bundle, in bytes, at start and in uploads
    #[arg(long, env = "SSR_POOL_MAX_BUNDLE_BYTES", default_value_t = bundles::DEFAULT_MAX_BUNDLE_BYTES)]
    pub max_bundle_bytes: usize,
    /// Sample renders (JSON array of {component, props}) used for warm-up
    #[arg(long, env = "SSR_POOL_SAMPLES", value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Directory of the code cache [default: $XDG_CACHE_HOME/ssr-pool or ~/.cache/ssr-pool]
    #[arg(long, env = "SSR_POOL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the code cache
    #[arg(long, env = "SSR_POOL_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
    /// Isolate worker threads, 0 = available parallelism
    #[arg(long, env = "SSR_POOL_WORKERS", default_value_t = D.workers)]
    pub workers: usize,
    /// Warm-up renders per isolate before it takes requests
    #[arg(long, env = "SSR_POOL_WARMUP_RENDERS", default_value_t = D.warmup_renders)]
    pub warmup_renders: usize,
    /// Warm-up renders of an isolate replacing a poisoned one
    #[arg(long, env = "SSR_POOL_REPLACEMENT_WARMUP_RENDERS", default_value_t = D.replacement_warmup_renders)]
    pub replacement_warmup_renders: usize,
    /// Renders one isolate may have in flight (waiting on timers, promises or slow readers)
    #[arg(long, env = "SSR_POOL_MAX_RENDERS_IN_FLIGHT", default_value_t = D.max_renders_in_flight)]
    pub max_renders_in_flight: usize,
    /// Default render deadline in milliseconds
    #[arg(long, env = "SSR_POOL_RENDER_TIMEOUT_MS", default_value_t = millis(D.render_timeout))]
    pub render_timeout_ms: u64,
    /// Largest deadline a request may ask for, in milliseconds
    #[arg(long, env = "SSR_POOL_MAX_RENDER_TIMEOUT_MS", default_value_t = millis(D.max_render_timeout))]
    pub max_render_timeout_ms: u64,
    /// Smallest deadline a request may ask for (shorter ones are raised), in milliseconds
    #[arg(long, env = "SSR_POOL_MIN_RENDER_TIMEOUT_MS", default_value_t = millis(D.min_render_timeout))]
    pub min_render_timeout_ms: u64,
    /// How long JavaScript may hold the CPU past a deadline before its isolate is terminated, in milliseconds
    #[arg(long, env = "SSR_POOL_TERMINATION_GRACE_MS", default_value_t = millis(D.termination_grace))]
    pub termination_grace_ms: u64,
    /// Jobs that may wait for a worker before requests get 503
    #[arg(long, env = "SSR_POOL_QUEUE_CAPACITY", default_value_t = D.queue_capacity)]
    pub queue_capacity: usize,
    /// Longest wait in the queue before 503, in milliseconds
    #[arg(long, env = "SSR_POOL_QUEUE_TIMEOUT_MS", default_value_t = millis(D.queue_timeout))]
    pub queue_timeout_ms: u64,
    /// Heap limit per isolate in MiB (ArrayBuffers get the same budget)
    #[arg(long, env = "SSR_POOL_HEAP_LIMIT_MB", default_value_t = D.heap_limit_mb)]
    pub heap_limit_mb: usize,
    /// Young-generation semi-space per isolate in MiB
    #[arg(long, env = "SSR_POOL_SEMI_SPACE_MB", default_value_t = D.semi_space_mb)]
    pub semi_space_mb: usize,
    /// Never collect an isolate's young generation between renders: every collection then happens inside one
    #[arg(long, env = "SSR_POOL_NO_IDLE_GC", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_idle_gc: bool,
    /// Memory one worker's isolates may hold together, in MiB; past it the least recently used idle bundle's isolate is dropped and built again when next needed (0 = no budget)
    #[arg(long, env = "SSR_POOL_WORKER_MEMORY_BUDGET_MB", default_value_t = D.worker_memory_budget_mb)]
    pub worker_memory_budget_mb: usize,
    /// Replace an isolate after this many renders, 0 = never
    #[arg(long, env = "SSR_POOL_MAX_RENDERS_PER_ISOLATE", default_value_t = D.max_renders_per_isolate)]
    pub max_renders_per_isolate: u64,
    /// Largest HTML a render may return, in bytes
    #[arg(long, env = "SSR_POOL_MAX_OUTPUT_BYTES", default_value_t = D.max_output_bytes)]
    pub max_output_bytes: usize,
    /// Give every render a fresh context (strict isolation, slower)
    #[arg(long, env = "SSR_POOL_FRESH_CONTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub fresh_context: bool,
    /// Start isolates without a start-up snapshot of the bundle, and take none
    #[arg(long, env = "SSR_POOL_NO_SNAPSHOTS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_snapshots: bool,
    /// Origins a render's fetch may reach, comma-separated (https://api.internal:8443); none turns fetch off
    #[arg(
        long,
        env = "SSR_POOL_FETCH_ALLOW",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub fetch_allow: Vec<String>,
    /// Requests one render may start with fetch
    #[arg(long, env = "SSR_POOL_FETCH_MAX_REQUESTS", default_value_t = D.fetch_max_requests)]
    pub fetch_max_requests: usize,
    /// Response body bytes one render may receive over all its fetches
    #[arg(long, env = "SSR_POOL_FETCH_MAX_RESPONSE_BYTES", default_value_t = D.fetch_max_response_bytes)]
    pub fetch_max_response_bytes: usize,
    /// How long one fetch may take, to the end of its body, in milliseconds
    #[arg(long, env = "SSR_POOL_FETCH_TIMEOUT_MS", default_value_t = millis(D.fetch_timeout))]
    pub fetch_timeout_ms: u64,
    /// V8 flags, space-separated (part of the code-cache key)
    #[arg(long, env = "SSR_POOL_V8_FLAGS", allow_hyphen_values = true, default_value = pool::platform::DEFAULT_V8_FLAGS)]
    pub v8_flags: String,
}

/// Options of the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Address to listen on
    #[arg(long, env = "SSR_POOL_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Largest request body in bytes
    #[arg(long, env = "SSR_POOL_MAX_BODY_BYTES", default_value_t = 1_024_000)]
    pub max_body_bytes: usize,
    /// Most jobs one Hypernova /batch may hold (more is 413 too_many_jobs)
    #[arg(long, env = "SSR_POOL_MAX_BATCH_JOBS", default_value_t = 256)]
    pub max_batch_jobs: usize,
    /// Longest time a client may take to send a request body, in seconds
    #[arg(long, env = "SSR_POOL_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Put JS stack traces in error responses
    #[arg(long, env = "SSR_POOL_DEBUG_ERRORS", value_parser = clap::builder::BoolishValueParser::new())]
    pub debug_errors: bool,
    /// Seconds to let in-flight requests finish on shutdown
    #[arg(long, env = "SSR_POOL_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads (the renders run on the pool's threads)
    #[arg(long, env = "SSR_POOL_HTTP_WORKERS", default_value_t = 1)]
    pub http_workers: usize,
    /// Request headers a render sees as context.headers, comma-separated (x-trace-id,cookie); none by default
    #[arg(
        long,
        env = "SSR_POOL_FETCH_FORWARD_HEADERS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub fetch_forward_headers: Vec<String>,
    /// File holding the admin API's bearer token; the admin API is off without one
    #[arg(long, env = "SSR_POOL_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Serve the admin API on this address only (default: beside the render API)
    #[arg(long, env = "SSR_POOL_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
}

/// `--bundle-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Auto,
    Script,
    Module,
}

impl FormatArg {
    fn format(self) -> Option<BundleFormat> {
        match self {
            FormatArg::Auto => None,
            FormatArg::Script => Some(BundleFormat::Script),
            FormatArg::Module => Some(BundleFormat::Module),
        }
    }
}

const fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// What the service loads and how it runs: the resolved settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The server bundle; None serves the embedded example.
    pub bundle: Option<PathBuf>,
    /// The bundle's format; None detects it.
    pub bundle_format: Option<BundleFormat>,
    /// Largest bundle, at start and in uploads.
    pub max_bundle_bytes: usize,
    /// Warm-up samples; None uses the example's (with the example bundle)
    /// or every component with `{}`.
    pub samples: Option<PathBuf>,
    /// The code cache directory; None runs without a cache.
    pub cache_dir: Option<PathBuf>,
    pub pool: PoolConfig,
    pub v8_flags: String,
    pub http: HttpConfig,
}

/// The HTTP server's resolved settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_batch_jobs: usize,
    pub body_timeout: Duration,
    pub debug_errors: bool,
    pub shutdown_timeout: Duration,
    pub http_workers: usize,
    /// Lower-case names of the request headers renders see.
    pub forward_headers: Vec<String>,
    /// The admin API's token file; None turns the admin API off.
    pub admin_token_file: Option<PathBuf>,
    /// The admin API's own address; None serves it beside the render API.
    pub admin_listen: Option<SocketAddr>,
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            ("max_body_bytes", self.max_body_bytes >= 1),
            ("max_batch_jobs", self.max_batch_jobs >= 1),
            ("body_timeout_secs", !self.body_timeout.is_zero()),
            ("shutdown_timeout_secs", !self.shutdown_timeout.is_zero()),
            ("http_workers", self.http_workers >= 1),
        ];
        match checks.iter().find(|(_, ok)| !ok) {
            Some((name, _)) => Err(format!("{name} must be at least 1")),
            None => Ok(()),
        }
    }
}

impl PoolArgs {
    /// The pool configuration these options describe.
    pub fn pool_config(&self) -> PoolConfig {
        let ms = Duration::from_millis;
        PoolConfig {
            workers: self.workers,
            warmup_renders: self.warmup_renders,
            replacement_warmup_renders: self.replacement_warmup_renders,
            max_renders_in_flight: self.max_renders_in_flight,
            queue_capacity: self.queue_capacity,
            queue_timeout: ms(self.queue_timeout_ms),
            render_timeout: ms(self.render_timeout_ms),
            max_render_timeout: ms(self.max_render_timeout_ms),
            min_render_timeout: ms(self.min_render_timeout_ms),
            termination_grace: ms(self.termination_grace_ms),
            heap_limit_mb: self.heap_limit_mb,
            semi_space_mb: self.semi_space_mb,
            idle_gc: !self.no_idle_gc,
            worker_memory_budget_mb: self.worker_memory_budget_mb,
            max_renders_per_isolate: self.max_renders_per_isolate,
            max_output_bytes: self.max_output_bytes,
            fresh_context: self.fresh_context,
            snapshots: !self.no_snapshots,
            fetch_allow: self.fetch_allow.clone(),
            fetch_max_requests: self.fetch_max_requests,
            fetch_max_response_bytes: self.fetch_max_response_bytes,
            fetch_timeout: ms(self.fetch_timeout_ms),
            ..D
        }
    }

    /// The cache directory, or None when the cache is off.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        Some(base.join("ssr-pool"))
    }

    /// The service configuration, with `http` (or the defaults for commands
    /// that serve no HTTP).
    pub fn service_config(&self, http: Option<&HttpArgs>) -> ServiceConfig {
        let http = http.cloned().unwrap_or_else(defaults::<HttpArgs>);
        ServiceConfig {
            bundle: self.bundle.clone(),
            bundle_format: self.bundle_format.format(),
            max_bundle_bytes: self.max_bundle_bytes,
            samples: self.samples.clone(),
            cache_dir: self.cache_dir(),
            pool: self.pool_config(),
            v8_flags: self.v8_flags.clone(),
            http: HttpConfig {
                listen: http.listen,
                max_body_bytes: http.max_body_bytes,
                max_batch_jobs: http.max_batch_jobs,
                body_timeout: Duration::from_secs(http.body_timeout_secs),
                debug_errors: http.debug_errors,
                shutdown_timeout: Duration::from_secs(http.shutdown_timeout_secs),
                http_workers: http.http_workers,
                forward_headers: http
                    .fetch_forward_headers
                    .iter()
                    .map(|name| name.trim().to_ascii_lowercase())
                    .filter(|name| !name.is_empty())
                    .collect(),
                admin_token_file: http.admin_token_file,
                admin_listen: http.admin_listen,
            },
        }
    }
}

/// The defaults of an argument group (with the `SSR_POOL_*` environment
/// applied, as clap reads it).
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(Command::new("defaults").no_binary_name(true));
    let matches = command.get_matches_from(std::iter::empty::<OsString>());
    T::from_arg_matches(&matches).expect("defaults parse")
}

impl ServiceConfig {
    /// The example app with the default settings and no cache.
    pub fn example() -> Self {
        let mut config = defaults::<PoolArgs>().service_config(None);
        config.cache_dir = None;
        config
    }
}

/// The ids of the arguments an argument group declares.
fn ids_of<T: Args>() -> HashSet<String> {
    T::augment_args(Command::new("ids"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

/// Makes the values of a TOML config file the defaults of `command` (and of
/// its subcommands that take them). Unknown tables or keys are errors.
pub fn apply_file(mut command: Command, path: &Path) -> Result<Command, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))?;
    for (section, values) in table {
        let known = match section.as_str() {
            "pool" => ids_of::<PoolArgs>(),
            "http" => ids_of::<HttpArgs>(),
            other => {
                return Err(format!(
                    "config {}: unknown table [{other}]",
                    path.display()
                ))
            }
        };
        let toml::Value::Table(values) = values else {
            return Err(format!(
                "config {}: [{section}] must be a table",
                path.display()
            ));
        };
        for (key, value) in values {
            if !known.contains(&key) {
                return Err(format!(
                    "config {}: unknown key {section}.{key}",
                    path.display()
                ));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                // A list setting: its items as the flag takes them.
                toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                    .iter()
                    .filter_map(toml::Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                other => {
                    return Err(format!(
                        "config {}: {section}.{key} = {other} is not a value",
                        path.display()
                    ))
                }
            };
            command = with_default(command, &key, text);
        }
    }
    Ok(command)
}

/// Sets `id`'s default in every subcommand that has the argument.
fn with_default(command: Command, id: &str, value: String) -> Command {
    let names: Vec<String> = command
        .get_subcommands()
        .filter(|s| s.get_arguments().any(|a| a.get_id() == id))
        .map(|s| s.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        let value = value.clone();
        command.mut_subcommand(name, |sub| sub.mut_arg(id, |arg| arg.default_value(value)))
    })
}
