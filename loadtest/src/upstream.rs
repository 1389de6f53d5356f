//! The data upstream of the fetch benchmark, in this process: `GET
//! /items?section=S&delay=MS&rows=N` answers `{section, rows}` after MS ms,
//! with the rows tests/node/upstream.mjs makes. It runs here, on tokio,
//! rather than in Node so that serving thousands of requests a second costs
//! the machine little: the servers under test share its two cores.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

/// Starts the upstream on a free loopback port; its origin.
pub async fn start() -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            tokio::spawn(async move {
                let service =
                    service_fn(|request| async move { Ok::<_, Infallible>(items(request).await) });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

async fn items(request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let query = request.uri().query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    let section = param("section");
    let delay = param("delay").parse().unwrap_or(0u64).min(10_000);
    let count = param("rows").parse().unwrap_or(10usize).min(10_000);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let rows: Vec<_> = (0..count)
        .map(|i| {
            json!({
                "id": format!("{section}-{i}"),
                "label": format!("{section} item {}: thé, café & crème — ×{} ✓ 日本", i + 1, i % 7),
                "price": ((i * 37) % 1000) as f64 / 10.0,
            })
        })
        .collect();
    let body = json!({"section": section, "rows": rows}).to_string();
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}
