//! `ssr-pool serve`: the pool behind the HTTP app, with graceful shutdown
//! on SIGTERM/SIGINT (stop accepting, finish in-flight renders within the
//! shutdown timeout, then stop the pool).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::app::{self, AppState, ServerOptions};
use crate::cli::build_pool;
use crate::metrics::Metrics;
use crate::settings::{HttpArgs, PoolArgs};

pub fn run(pool_args: PoolArgs, http: HttpArgs) -> Result<(), String> {
    let listen = http.listen();
    let listener =
        TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let metrics = Arc::new(Metrics::new());
    let pool = build_pool(&pool_args, metrics.clone(), true)?;
    tracing::info!(
        address = %listener.local_addr().map_err(|e| e.to_string())?,
        bundle = pool.bundle().name(),
        hash = %pool.bundle().hash().short(),
        workers = pool.workers(),
        "serving"
    );
    let state = AppState {
        pool: pool.clone(),
        metrics,
        max_body_bytes: http.max_body_bytes(),
        debug_errors: http.debug_errors,
    };
    let options = ServerOptions {
        http_workers: http.http_workers(),
        shutdown_timeout: http.shutdown_timeout(),
    };
    let failed = Arc::new(AtomicBool::new(false));
    actix_web::rt::System::new().block_on(async move {
        let server = app::start(listener, state, options)
            .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
        let handle = server.handle();
        let watcher_pool = pool.clone();
        let watcher_failed = failed.clone();
        actix_web::rt::spawn(async move {
            match watcher_pool.wait_ready().await {
                Ok(()) => {
                    let status = watcher_pool.status();
                    if let Some(load) = status.first_load {
                        tracing::info!(
                            components = load.components.len(),
                            code_cache = load.cache.as_str(),
                            compile_ms = load.compile.as_secs_f64() * 1e3,
                            "all workers warm; ready"
                        );
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "the bundle cannot be served; stopping");
                    watcher_failed.store(true, Ordering::SeqCst);
                    handle.stop(false).await;
                }
            }
        });
        server
            .await
            .map_err(|e| format!("HTTP server failed: {e}"))?;
        tracing::info!("HTTP server stopped; shutting the pool down");
        pool.shutdown().await;
        if failed.load(Ordering::SeqCst) {
            if let Some(error) = pool.status().failed {
                return Err(error.to_string());
            }
        }
        Ok(())
    })
}
