//! The real HTTP server started on an ephemeral port for a test.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bundles::Bundle;
use pool::{PoolConfig, RenderPool};
use ssr_api::app::{self, AppState, ServerOptions};
use ssr_api::metrics::Metrics;

/// A running server; stopped (and its pool shut down) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub pool: RenderPool,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Knobs of a test server.
#[derive(Clone)]
pub struct ServerSetup {
    pub config: PoolConfig,
    pub max_body_bytes: usize,
    pub debug_errors: bool,
    /// Wait for every worker to be warm before returning.
    pub wait_ready: bool,
}

impl Default for ServerSetup {
    fn default() -> Self {
        Self {
            config: crate::test_config(2),
            max_body_bytes: 1024 * 1000,
            debug_errors: false,
            wait_ready: true,
        }
    }
}

impl TestServer {
    pub fn start(bundle: Bundle, setup: ServerSetup) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        let pool = RenderPool::builder(bundle)
            .config(setup.config)
            .observer(metrics.clone())
            .start()
            .expect("pool starts");
        let state = AppState {
            pool: pool.clone(),
            metrics,
            max_body_bytes: setup.max_body_bytes,
            debug_errors: setup.debug_errors,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = app::start(
                    listener,
                    state,
                    ServerOptions {
                        http_workers: 2,
                        shutdown_timeout: Duration::from_secs(5),
                    },
                )
                .expect("server starts");
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("server handle");
        let server = Self {
            addr,
            pool,
            handle,
            thread: Some(thread),
        };
        if setup.wait_ready {
            server
                .block_on(server.pool.wait_ready())
                .expect("pool ready");
        }
        server
    }

    /// Runs a future to completion on a throwaway runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        self.block_on(handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.pool.shutdown_blocking();
    }
}

/// An HTTP response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("request gets an answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .expect("body reads");
    Reply {
        status,
        content_type,
        retry_after,
        body,
    }
}

/// POSTs `body` as JSON (optionally asking for a JSON answer).
pub fn post(url: &str, body: &str, accept: Option<&str>) -> Reply {
    let mut request = agent().post(url).header("content-type", "application/json");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    reply(request.send(body))
}

pub fn get(url: &str) -> Reply {
    reply(agent().get(url).call())
}
