//! The real HTTP server, built by the service's own start-up
//! (`ssr_api::startup::Application`) on an ephemeral port, with a code cache
//! in a temporary directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pool::{PoolConfig, RenderPool};
use ssr_api::settings::{HttpConfig, ServiceConfig};
use ssr_api::startup::Application;

/// A running server; stopped (and its pool shut down) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub pool: RenderPool,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _cache_dir: tempfile::TempDir,
}

/// Knobs of a test server.
#[derive(Clone)]
pub struct ServerSetup {
    pub config: PoolConfig,
    pub max_body_bytes: usize,
    pub debug_errors: bool,
    /// Wait for every worker to be warm before returning.
    pub wait_ready: bool,
    pub body_timeout: Duration,
    pub max_batch_jobs: usize,
    /// Request headers renders see as `context.headers`.
    pub forward_headers: Vec<String>,
    /// Turns the admin API on with the token in this file.
    pub admin_token_file: Option<PathBuf>,
    /// Largest bundle at start and in uploads.
    pub max_bundle_bytes: usize,
    /// The cache (and registry) directory; a fresh temporary one when None.
    pub cache_dir: Option<PathBuf>,
}

impl Default for ServerSetup {
    fn default() -> Self {
        Self {
            config: crate::test_config(2),
            max_body_bytes: 1024 * 1000,
            debug_errors: false,
            wait_ready: true,
            body_timeout: Duration::from_secs(30),
            max_batch_jobs: 256,
            forward_headers: Vec::new(),
            admin_token_file: None,
            max_bundle_bytes: bundles::DEFAULT_MAX_BUNDLE_BYTES,
            cache_dir: None,
        }
    }
}

impl ServerSetup {
    /// The service configuration for `bundle` with a cache in `cache_dir`.
    pub fn service_config(&self, bundle: PathBuf, cache_dir: PathBuf) -> ServiceConfig {
        ServiceConfig {
            bundle: Some(bundle),
            bundle_format: None,
            max_bundle_bytes: self.max_bundle_bytes,
            samples: None,
            cache_dir: Some(cache_dir),
            pool: self.config.clone(),
            v8_flags: pool::platform::DEFAULT_V8_FLAGS.to_owned(),
            http: HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                max_body_bytes: self.max_body_bytes,
                max_batch_jobs: self.max_batch_jobs,
                body_timeout: self.body_timeout,
                debug_errors: self.debug_errors,
                shutdown_timeout: Duration::from_secs(5),
                http_workers: 2,
                forward_headers: self.forward_headers.clone(),
                admin_token_file: self.admin_token_file.clone(),
                admin_listen: None,
            },
        }
    }
}

impl TestServer {
    /// Starts the service on the bundle file `bundle`.
    pub fn start(bundle: PathBuf, setup: ServerSetup) -> Self {
        let cache_dir = tempfile::tempdir().expect("temp cache dir");
        let dir = (setup.cache_dir.clone()).unwrap_or_else(|| cache_dir.path().to_path_buf());
        let config = setup.service_config(bundle, dir);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(config).expect("service starts");
                tx.send((app.addr(), app.pool().clone(), app.handle()))
                    .unwrap();
                let _ = app.run_until_stopped().await;
            });
        });
        let (addr, pool, handle) = rx.recv().expect("server started");
        let server = Self {
            addr,
            pool,
            handle,
            thread: Some(thread),
            _cache_dir: cache_dir,
        };
        if setup.wait_ready {
            server.wait_ready();
        }
        server
    }

    /// Waits until the pool is warm (failing on a start error), then until
    /// `/ready` says the service is (apps restored after a restart warm in
    /// the background).
    pub fn wait_ready(&self) {
        self.block_on(self.pool.wait_ready()).expect("pool ready");
        let started = Instant::now();
        while get(&self.url("/ready")).status != 200 {
            assert!(started.elapsed() < Duration::from_secs(60), "never ready");
            std::thread::sleep(Duration::from_millis(10));
        }
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

/// Sends `body` with `method`, with a bearer `token` when given (the admin
/// API).
pub fn send(method: &str, url: &str, token: Option<&str>, body: &[u8]) -> Reply {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    reply(agent().run(request.body(body.to_vec()).expect("a valid request")))
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

/// A streamed answer as it arrived: each HTTP chunk with when it came, and
/// whether the response ended with the terminating chunk.
pub struct Streamed {
    pub status: u16,
    pub chunks: Vec<(Duration, Vec<u8>)>,
    pub complete: bool,
}

impl Streamed {
    pub fn body(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
    }
}

/// Sends a render request and reads a chunked answer chunk by chunk.
pub fn stream(server: &TestServer, body: &serde_json::Value) -> Streamed {
    stream_with_headers(server, body, &[])
}

/// [`stream`] with extra request headers.
pub fn stream_with_headers(
    server: &TestServer,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> Streamed {
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.to_string();
    let started = Instant::now();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        conn,
        "POST /render HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        chunked |= line
            .to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked");
    }
    let mut chunks = Vec::new();
    if !chunked {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        chunks.push((started.elapsed(), rest));
        return Streamed {
            status,
            chunks,
            complete: true,
        };
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Streamed {
                status,
                chunks,
                complete: false,
            };
        }
        let size = usize::from_str_radix(line.trim(), 16).unwrap();
        if size == 0 {
            return Streamed {
                status,
                chunks,
                complete: true,
            };
        }
        let mut chunk = vec![0; size + 2];
        if reader.read_exact(&mut chunk).is_err() {
            return Streamed {
                status,
                chunks,
                complete: false,
            };
        }
        chunk.truncate(size);
        chunks.push((started.elapsed(), chunk));
    }
}

/// The value of the first sample of metric `name` (0 when absent).
pub fn metric(server: &TestServer, name: &str) -> f64 {
    get(&server.url("/metrics"))
        .body
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}
