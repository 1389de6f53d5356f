//! The service's configuration: one typed struct filled from CLI flags,
//! `SSR_POOL_*` environment variables and an optional TOML file, in that
//! order of precedence, over documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use pool::PoolConfig;

/// Options shared by `serve`, `render` and `warm`: what to load and how to
/// run the isolates. Every flag can also be set through its environment
/// variable or the `[pool]` table of the config file.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolArgs {
    /// Server bundle to load [default: the embedded example app]
    #[arg(long, env = "SSR_POOL_BUNDLE", value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Sample renders (JSON array of {component, props}) used for warm-up
    #[arg(long, env = "SSR_POOL_SAMPLES", value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Directory of the code cache [default: $XDG_CACHE_HOME/ssr-pool or ~/.cache/ssr-pool]
    #[arg(long, env = "SSR_POOL_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the code cache
    #[arg(long, env = "SSR_POOL_NO_CACHE")]
    #[serde(skip)]
    pub no_cache: bool,
    /// Isolate worker threads [default: available parallelism]
    #[arg(long, env = "SSR_POOL_WORKERS")]
    pub workers: Option<usize>,
    /// Warm-up renders per isolate before it takes requests [default: 200]
    #[arg(long, env = "SSR_POOL_WARMUP_RENDERS")]
    pub warmup_renders: Option<usize>,
    /// Warm-up renders of an isolate replacing a poisoned one [default: 50]
    #[arg(long, env = "SSR_POOL_REPLACEMENT_WARMUP_RENDERS")]
    pub replacement_warmup_renders: Option<usize>,
    /// Default render deadline in milliseconds [default: 5000]
    #[arg(long, env = "SSR_POOL_RENDER_TIMEOUT_MS")]
    pub render_timeout_ms: Option<u64>,
    /// Largest deadline a request may ask for, in milliseconds [default: 30000]
    #[arg(long, env = "SSR_POOL_MAX_RENDER_TIMEOUT_MS")]
    pub max_render_timeout_ms: Option<u64>,
    /// Jobs that may wait for a worker before requests get 503 [default: 1024]
    #[arg(long, env = "SSR_POOL_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// Longest wait in the queue, in milliseconds, before 503 [default: 5000]
    #[arg(long, env = "SSR_POOL_QUEUE_TIMEOUT_MS")]
    pub queue_timeout_ms: Option<u64>,
    /// Heap limit per isolate in MiB [default: 512]
    #[arg(long, env = "SSR_POOL_HEAP_LIMIT_MB")]
    pub heap_limit_mb: Option<usize>,
    /// Young-generation semi-space per isolate in MiB [default: 32]
    #[arg(long, env = "SSR_POOL_SEMI_SPACE_MB")]
    pub semi_space_mb: Option<usize>,
    /// Replace an isolate after this many renders, 0 = never [default: 0]
    #[arg(long, env = "SSR_POOL_MAX_RENDERS_PER_ISOLATE")]
    pub max_renders_per_isolate: Option<u64>,
    /// Largest HTML a render may return, in bytes [default: 67108864]
    #[arg(long, env = "SSR_POOL_MAX_OUTPUT_BYTES")]
    pub max_output_bytes: Option<usize>,
    /// Give every render a fresh context (strict isolation, slower) [default: false]
    #[arg(long, env = "SSR_POOL_FRESH_CONTEXT")]
    #[serde(default)]
    pub fresh_context: bool,
    /// Extra V8 flags, space-separated [default: --single-threaded-gc]
    #[arg(long, env = "SSR_POOL_V8_FLAGS", allow_hyphen_values = true)]
    pub v8_flags: Option<String>,
}

impl PoolArgs {
    /// Fills every unset field from `file` (the config file's values).
    pub fn or(self, file: PoolArgs) -> PoolArgs {
        PoolArgs {
            bundle: self.bundle.or(file.bundle),
            samples: self.samples.or(file.samples),
            cache_dir: self.cache_dir.or(file.cache_dir),
            no_cache: self.no_cache,
            workers: self.workers.or(file.workers),
            warmup_renders: self.warmup_renders.or(file.warmup_renders),
            replacement_warmup_renders: self
                .replacement_warmup_renders
                .or(file.replacement_warmup_renders),
            render_timeout_ms: self.render_timeout_ms.or(file.render_timeout_ms),
            max_render_timeout_ms: self.max_render_timeout_ms.or(file.max_render_timeout_ms),
            queue_capacity: self.queue_capacity.or(file.queue_capacity),
            queue_timeout_ms: self.queue_timeout_ms.or(file.queue_timeout_ms),
            heap_limit_mb: self.heap_limit_mb.or(file.heap_limit_mb),
            semi_space_mb: self.semi_space_mb.or(file.semi_space_mb),
            max_renders_per_isolate: self
                .max_renders_per_isolate
                .or(file.max_renders_per_isolate),
            max_output_bytes: self.max_output_bytes.or(file.max_output_bytes),
            fresh_context: self.fresh_context || file.fresh_context,
            v8_flags: self.v8_flags.or(file.v8_flags),
        }
    }

    /// The pool configuration these options describe.
    pub fn pool_config(&self) -> PoolConfig {
        let d = PoolConfig::default();
        let ms = Duration::from_millis;
        PoolConfig {
            workers: self.workers.unwrap_or(d.workers),
            warmup_renders: self.warmup_renders.unwrap_or(d.warmup_renders),
            replacement_warmup_renders: self
                .replacement_warmup_renders
                .unwrap_or(d.replacement_warmup_renders),
            queue_capacity: self.queue_capacity.unwrap_or(d.queue_capacity),
            queue_timeout: self.queue_timeout_ms.map_or(d.queue_timeout, ms),
            render_timeout: self.render_timeout_ms.map_or(d.render_timeout, ms),
            max_render_timeout: self.max_render_timeout_ms.map_or(d.max_render_timeout, ms),
            load_timeout: d.load_timeout,
            heap_limit_mb: self.heap_limit_mb.unwrap_or(d.heap_limit_mb),
            semi_space_mb: self.semi_space_mb.unwrap_or(d.semi_space_mb),
            max_renders_per_isolate: self
                .max_renders_per_isolate
                .unwrap_or(d.max_renders_per_isolate),
            recycle_heap_fraction: d.recycle_heap_fraction,
            max_output_bytes: self.max_output_bytes.unwrap_or(d.max_output_bytes),
            fresh_context: self.fresh_context,
        }
    }

    pub fn v8_flags(&self) -> String {
        self.v8_flags
            .clone()
            .unwrap_or_else(|| pool::platform::DEFAULT_V8_FLAGS.to_owned())
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
}

/// Options of the HTTP server.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpArgs {
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "SSR_POOL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Largest request body in bytes [default: 1048576 (1 MiB)]
    #[arg(long, env = "SSR_POOL_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Put stack traces in error responses [default: false]
    #[arg(long, env = "SSR_POOL_DEBUG_ERRORS")]
    #[serde(skip)]
    pub debug_errors: bool,
    /// Seconds to let in-flight requests finish on shutdown [default: 30]
    #[arg(long, env = "SSR_POOL_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// HTTP worker threads [default: 1, the renders run on the pool's threads]
    #[arg(long, env = "SSR_POOL_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
}

impl HttpArgs {
    pub fn or(self, file: HttpArgs) -> HttpArgs {
        HttpArgs {
            listen: self.listen.or(file.listen),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            debug_errors: self.debug_errors,
            shutdown_timeout_secs: self.shutdown_timeout_secs.or(file.shutdown_timeout_secs),
            http_workers: self.http_workers.or(file.http_workers),
        }
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)))
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes.unwrap_or(1 << 20)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs.unwrap_or(30))
    }

    pub fn http_workers(&self) -> usize {
        self.http_workers.unwrap_or(1).max(1)
    }
}

/// The optional TOML config file: `[pool]` and `[http]` tables with the
/// same names as the flags (underscores for dashes).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub pool: PoolArgs,
    pub http: HttpArgs,
}

impl FileConfig {
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))
    }
}
