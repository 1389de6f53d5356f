//! Start-up, in one place: from a [`ServiceConfig`] to a running pool (and
//! HTTP server). `serve`, `render`, `warm` and the end-to-end tests all
//! build through here, so the tests run the production wiring.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use bundles::Bundle;
use pool::{CodeCacheStore, PoolObserver, RenderPool, Sample};

use crate::admin::AdminToken;
use crate::app::{self, AdminRoutes, AppState};
use crate::codecache::DiskCodeCache;
use crate::example;
use crate::metrics::Metrics;
use crate::registry::{self, Registry, RegistryConfig};
use crate::settings::ServiceConfig;
use crate::snapshot;

/// The bundle the configuration names, or the embedded example.
pub fn load_bundle(config: &ServiceConfig) -> Result<Bundle, String> {
    match &config.bundle {
        Some(path) => pool::open_bundle(
            path,
            config.bundle_format,
            config.max_bundle_bytes,
            &config.v8_flags,
        )
        .map_err(|e| e.to_string()),
        None => example::bundle().map_err(|e| e.to_string()),
    }
}

/// The warm-up samples the configuration names (the example's own samples
/// when the example bundle is used; none otherwise).
pub fn load_samples(config: &ServiceConfig) -> Result<Vec<Sample>, String> {
    let text = match (&config.samples, &config.bundle) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read samples {}: {e}", path.display()))?,
        (None, None) => example::EXAMPLE_SAMPLES.to_owned(),
        (None, Some(_)) => return Ok(Vec::new()),
    };
    serde_json::from_str(&text).map_err(|e| {
        format!("samples must be a JSON array of {{\"component\", \"props\"}} objects: {e}")
    })
}

/// Whether a pool may write the code cache it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAccess {
    ReadWrite,
    /// One-off renders, whose isolates are not warmed up, would store a
    /// thin cache: they only read.
    ReadOnly,
}

/// Opens the configured code cache directory, if there is one.
pub fn open_code_cache(
    config: &ServiceConfig,
    access: CacheAccess,
) -> Result<Option<DiskCodeCache>, String> {
    let Some(dir) = &config.cache_dir else {
        return Ok(None);
    };
    let store = DiskCodeCache::open(dir, pool::platform::v8_version(), &config.v8_flags)
        .map_err(|e| format!("cache directory {} is not usable: {e}", dir.display()))?;
    Ok(Some(match access {
        CacheAccess::ReadWrite => store,
        CacheAccess::ReadOnly => store.read_only(),
    }))
}

/// Starts a pool on `bundle` with the configuration's settings.
pub fn start_pool(
    config: &ServiceConfig,
    bundle: Bundle,
    samples: Vec<Sample>,
    observer: Arc<dyn PoolObserver>,
    code_cache: Option<Arc<dyn CodeCacheStore>>,
) -> Result<RenderPool, String> {
    let mut builder = RenderPool::builder(bundle)
        .config(config.pool.clone())
        .samples(samples)
        .observer(observer)
        .v8_flags(config.v8_flags.clone());
    if let Some(store) = code_cache {
        builder = builder.code_cache(store);
    }
    builder.start().map_err(|e| e.to_string())
}

/// Loads the configured bundle and samples and starts a pool on them with
/// the disk code cache.
pub fn build_pool(
    config: &ServiceConfig,
    observer: Arc<dyn PoolObserver>,
    access: CacheAccess,
) -> Result<RenderPool, String> {
    let bundle = load_bundle(config)?;
    let samples = load_samples(config)?;
    let cache = open_code_cache(config, access)?.map(|c| Arc::new(c) as Arc<dyn CodeCacheStore>);
    start_pool(config, bundle, samples, observer, cache)
}

/// How long the pool may take to stop once the HTTP server has stopped.
const POOL_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The HTTP service: a pool behind the app, bound to its listener (and
/// the admin API, on its own listener when configured so).
pub struct Application {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    pool: RenderPool,
    registry: Arc<Registry>,
    server: Server,
    admin_server: Option<Server>,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    /// Validates the configuration, binds the listener (port 0 picks a free
    /// one), starts the pool with metrics and the code cache on what the
    /// registry served last (or `--bundle`), and builds the server. Must be
    /// called inside an actix system.
    pub fn build(config: ServiceConfig) -> Result<Self, String> {
        config
            .http
            .validate()
            .map_err(|e| format!("invalid setting: {e}"))?;
        config
            .pool
            .validate()
            .map_err(|e| format!("invalid setting: {e}"))?;
        let admin_token = match &config.http.admin_token_file {
            Some(_) if config.cache_dir.is_none() => {
                return Err("the admin API needs a cache directory to store bundles in".into())
            }
            Some(path) => Some(AdminToken::read(path)?),
            None => None,
        };
        let listener = bind(config.http.listen)?;
        let admin_listener = match (&admin_token, config.http.admin_listen) {
            (Some(_), Some(addr)) => Some(bind(addr)?),
            _ => None,
        };
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let metrics = Arc::new(Metrics::new());
        let disk = open_code_cache(&config, CacheAccess::ReadWrite)?.map(Arc::new);
        let registry_config = RegistryConfig {
            cache_dir: config.cache_dir.clone(),
            max_bundle_bytes: config.max_bundle_bytes,
            v8_flags: config.v8_flags.clone(),
            snapshots: disk
                .as_ref()
                .and_then(|disk| snapshot::SnapshotTaker::new(&config, Arc::clone(disk))),
        };
        let plan = registry::plan_start(&registry_config, load_bundle(&config)?);
        let startup_samples = load_samples(&config)?;
        let samples = match &plan.samples {
            Some(samples) => samples.clone(),
            None => startup_samples.clone(),
        };
        let snapshot_installed = disk
            .as_ref()
            .is_some_and(|disk| snapshot::install_stored(&config, &plan.default, disk));
        let cache = disk.clone().map(|c| c as Arc<dyn CodeCacheStore>);
        let pool = start_pool(
            &config,
            plan.default.clone(),
            samples.clone(),
            metrics.clone(),
            cache,
        )?;
        let bundle = pool.bundle();
        tracing::info!(
            address = %addr,
            bundle = bundle.name(),
            hash = %bundle.hash().short(),
            format = bundle.format().as_str(),
            files = bundle.files().len(),
            workers = pool.workers(),
            admin = admin_token.is_some(),
            "serving"
        );
        metrics.bundle_served(&bundle);
        let registry_config_snapshots = registry_config.snapshots.clone();
        let registry = Arc::new(Registry::new(
            pool.clone(),
            registry_config,
            &plan,
            startup_samples,
            metrics.clone(),
        ));
        if let (Some(taker), false) = (&registry_config_snapshots, snapshot_installed) {
            actix_web::rt::spawn(take_snapshot_when_ready(
                pool.clone(),
                taker.clone(),
                samples.clone(),
            ));
        }
        let restoring = Arc::clone(&registry);
        actix_web::rt::spawn(async move { restoring.restore(plan).await });
        let admin_routes = match (&admin_token, &admin_listener) {
            (Some(_), None) => AdminRoutes::Here,
            _ => AdminRoutes::Off,
        };
        let state = actix_web::web::Data::new(AppState {
            pool: pool.clone(),
            registry: Arc::clone(&registry),
            metrics,
            http: config.http.clone(),
            admin_token,
            max_bundle_bytes: config.max_bundle_bytes,
        });
        let server = app::start(listener, state.clone(), admin_routes)
            .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
        let (admin_addr, admin_server) = match admin_listener {
            Some(listener) => {
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let server = app::start_admin(listener, state)
                    .map_err(|e| format!("cannot start the admin server: {e}"))?;
                tracing::info!(address = %addr, "admin API listening");
                (Some(addr), Some(server))
            }
            None => (None, None),
        };
        Ok(Self {
            addr,
            admin_addr,
            pool,
            registry,
            server,
            admin_server,
            shutdown_timeout: config.http.shutdown_timeout,
        })
    }

    /// The admin API's own address, when it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pool(&self) -> &RenderPool {
        &self.pool
    }

    /// Stops the server (gracefully when `graceful`), as SIGTERM does.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (signal or handle), stopping early when
    /// the bundle cannot be served; then shuts the pool down.
    pub async fn run_until_stopped(self) -> Result<(), String> {
        let Self {
            pool,
            server,
            admin_server,
            shutdown_timeout,
            ..
        } = self;
        let admin = admin_server.map(|admin| {
            let handle = admin.handle();
            actix_web::rt::spawn(admin);
            handle
        });
        let failed = Arc::new(AtomicBool::new(false));
        actix_web::rt::spawn(report_readiness(
            pool.clone(),
            server.handle(),
            failed.clone(),
        ));
        server
            .await
            .map_err(|e| format!("HTTP server failed: {e}"))?;
        if let Some(admin) = admin {
            admin.stop(true).await;
        }
        tracing::info!("HTTP server stopped; shutting the pool down");
        // The HTTP side already waited for in-flight requests; what a worker
        // still runs now has no caller left.
        let pool_grace = shutdown_timeout.min(POOL_STOP_GRACE);
        if let Err(running) = pool.shutdown_within(pool_grace).await {
            tracing::error!(
                workers = running,
                "workers still running after the shutdown timeout; abandoning them"
            );
            return Err(format!(
                "{running} worker(s) did not stop within {} s of the HTTP server",
                pool_grace.as_secs()
            ));
        }
        match pool.status().failed {
            Some(error) if failed.load(Ordering::SeqCst) => Err(error.to_string()),
            _ => Ok(()),
        }
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Once the pool is ready, takes a start-up snapshot of the bundle it
/// started with in a child process and stores it: isolates start from it
/// from the next start on (a process starts from at most one snapshot, and
/// this one already created isolates without).
async fn take_snapshot_when_ready(
    pool: RenderPool,
    taker: snapshot::SnapshotTaker,
    samples: Vec<Sample>,
) {
    if pool.wait_ready().await.is_ok() {
        taker.take_if_missing(pool.bundle(), samples);
    }
}

/// Logs when every worker is warm, or stops the server when the bundle
/// cannot be loaded at all.
async fn report_readiness(pool: RenderPool, server: ServerHandle, failed: Arc<AtomicBool>) {
    match pool.wait_ready().await {
        Ok(()) => {
            if let Some(load) = pool.status().first_load {
                tracing::info!(
                    components = load.components.len(),
                    format = load.format.as_str(),
                    files = load.files,
                    code_cache = load.cache.as_str(),
                    compile_ms = load.compile.as_secs_f64() * 1e3,
                    "all workers warm; ready"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "the bundle cannot be served; stopping");
            failed.store(true, Ordering::SeqCst);
            server.stop(false).await;
        }
    }
}
