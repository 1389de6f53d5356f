//! The HTTP load generator: keep-alive HTTP/1.1 connections (hyper) to a
//! loopback server, in a closed loop (C connections, each sending its next
//! request when the previous answer arrives) or an open loop (requests
//! started on a fixed schedule; latency counted from the scheduled time, so
//! a stalled server cannot hide its queueing). Bounded in time and count.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::tally::Tally;

/// One request of a scenario: a POST with a JSON body, or a GET when the
/// body is empty.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub body: Bytes,
    /// Ask for a JSON answer (`Accept: application/json`).
    pub json: bool,
}

impl Call {
    pub fn render(component: &str, props: &str) -> Self {
        Self {
            path: "/render".to_owned(),
            body: Bytes::from(format!(r#"{{"component":"{component}","props":{props}}}"#)),
            json: false,
        }
    }

    /// A Hypernova batch of `jobs` (component, props) pairs.
    pub fn batch(jobs: &[(&str, &str)]) -> Self {
        let body: Vec<String> = jobs
            .iter()
            .enumerate()
            .map(|(i, (name, props))| format!(r#""job{i}":{{"name":"{name}","data":{props}}}"#))
            .collect();
        Self {
            path: "/batch".to_owned(),
            body: Bytes::from(format!("{{{}}}", body.join(","))),
            json: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            body: Bytes::new(),
            json: false,
        }
    }
}

/// What a load run measured: latencies to the last byte of the answer, and
/// to its first byte (what a streamed answer shows the browser first).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_sec: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    pub first_byte_p50_us: u64,
    pub first_byte_p99_us: u64,
}

impl LoadResult {
    fn from(tally: &Tally, first_byte: &Tally, seconds: f64) -> Self {
        let hist = &tally.hist;
        Self {
            requests: hist.len(),
            errors: tally.errors,
            seconds,
            per_sec: hist.len() as f64 / seconds,
            p50_us: hist.value_at_quantile(0.5),
            p90_us: hist.value_at_quantile(0.9),
            p99_us: hist.value_at_quantile(0.99),
            p999_us: hist.value_at_quantile(0.999),
            max_us: hist.max(),
            mean_us: hist.mean(),
            first_byte_p50_us: first_byte.hist.value_at_quantile(0.5),
            first_byte_p99_us: first_byte.hist.value_at_quantile(0.99),
        }
    }
}

/// Refuses anything but loopback targets.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address; the load generator only targets this machine"
        ))
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// The HTTP request for `call`.
fn build(addr: SocketAddr, call: &Call) -> Result<Request<Full<Bytes>>, String> {
    let builder = if call.body.is_empty() {
        Request::get(call.path.as_str())
    } else {
        Request::post(call.path.as_str()).header(hyper::header::CONTENT_TYPE, "application/json")
    };
    let accept = if call.json { "application/json" } else { "*/*" };
    builder
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::ACCEPT, accept)
        .body(Full::new(call.body.clone()))
        .map_err(|e| e.to_string())
}

/// A whole answer, and when its first byte arrived.
struct Answer {
    status: u16,
    body: Bytes,
    first_byte: Duration,
}

/// Sends one request; the answer once the whole body is read.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    call: &Call,
) -> Result<Answer, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let request = build(addr, call)?;
    let started = Instant::now();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let (body, first_byte) = read_body(response.into_body(), started).await?;
    Ok(Answer {
        status,
        body,
        first_byte: first_byte.unwrap_or_else(|| started.elapsed()),
    })
}

/// Reads a body to its end; also when its first byte arrived (None when
/// it had none).
async fn read_body(
    mut body: Incoming,
    started: Instant,
) -> Result<(Bytes, Option<Duration>), String> {
    let mut bytes = Vec::new();
    let mut first_byte = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) {
            first_byte.get_or_insert_with(|| started.elapsed());
            bytes.extend_from_slice(data);
        }
    }
    Ok((Bytes::from(bytes), first_byte))
}

/// Durations of one request, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// As the client saw it.
    pub client: f64,
    /// To the first byte of the body, as the client saw it.
    pub first_byte: f64,
    /// Inside the isolate (Server-Timing `render`).
    pub render: f64,
    /// The pool round trip in the handler (Server-Timing `pool`).
    pub pool: f64,
    /// From queued to taken by a worker (Server-Timing `queue`).
    pub queue: f64,
}

fn server_timing(header: &str, name: &str) -> Option<f64> {
    header.split(',').find_map(|metric| {
        metric
            .trim()
            .strip_prefix(name)?
            .strip_prefix(";dur=")?
            .parse()
            .ok()
    })
}

/// Sends `call` `count` times, one at a time on one keep-alive connection,
/// and returns each request's durations.
pub async fn timed_sequence(
    addr: SocketAddr,
    call: &Call,
    count: usize,
) -> Result<Vec<Timed>, String> {
    check_loopback(addr)?;
    let mut sender = connect(addr).await?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        sender.ready().await.map_err(|e| e.to_string())?;
        let request = build(addr, call)?;
        let started = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let header = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (Some(render), Some(pool), Some(queue)) = (
            server_timing(&header, "render"),
            server_timing(&header, "pool"),
            server_timing(&header, "queue"),
        ) else {
            return Err(format!(
                "no render, pool and queue durations in Server-Timing: {header:?}"
            ));
        };
        let (_, first_byte) = read_body(response.into_body(), started).await?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        out.push(Timed {
            client: ms(started.elapsed()),
            first_byte: ms(first_byte.unwrap_or_else(|| started.elapsed())),
            render,
            pool,
            queue,
        });
    }
    Ok(out)
}

/// A single request on a fresh connection (readiness checks, samples).
pub async fn request(addr: SocketAddr, call: &Call) -> Result<(u16, Bytes), String> {
    let mut sender = connect(addr).await?;
    let answer = send(&mut sender, addr, call).await?;
    Ok((answer.status, answer.body))
}

/// `connections` keep-alive connections, each looping over `calls` (offset
/// by its index) until `duration` or `max_requests` is reached, after
/// `warmup` unmeasured.
pub async fn closed_loop(
    addr: SocketAddr,
    calls: Arc<Vec<Call>>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    max_requests: u64,
) -> Result<LoadResult, String> {
    check_loopback(addr)?;
    let begin = Instant::now() + warmup;
    let end = begin + duration;
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let calls = Arc::clone(&calls);
        let sent = Arc::clone(&sent);
        let mut sender = connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            let (mut tally, mut first_byte) = (Tally::default(), Tally::default());
            let mut i = c;
            loop {
                let started = Instant::now();
                if started >= end || sent.load(Ordering::Relaxed) >= max_requests {
                    break;
                }
                let call = &calls[i % calls.len()];
                i += 1;
                let (ok, to_first_byte) = match send(&mut sender, addr, call).await {
                    Ok(answer) => (answer.status == 200, answer.first_byte),
                    Err(_) => {
                        // Reconnect after a broken connection.
                        if let Ok(s) = connect(addr).await {
                            sender = s;
                        }
                        (false, Duration::ZERO)
                    }
                };
                if started >= begin {
                    sent.fetch_add(1, Ordering::Relaxed);
                    tally.record(ok, started.elapsed());
                    first_byte.record(ok, to_first_byte);
                }
            }
            (tally, first_byte)
        }));
    }
    let (tally, first_byte) = Tally::merge_pairs(tasks).await?;
    let seconds = (Instant::now().min(end) - begin).as_secs_f64().max(1e-3);
    Ok(LoadResult::from(&tally, &first_byte, seconds))
}

/// Starts requests at `rate` per second for `duration`, each on an idle
/// keep-alive connection (opening more as needed, up to `max_connections`).
/// Latency is measured from each request's scheduled start.
pub async fn open_loop(
    addr: SocketAddr,
    calls: Arc<Vec<Call>>,
    rate: f64,
    duration: Duration,
    max_connections: usize,
) -> Result<LoadResult, String> {
    check_loopback(addr)?;
    let (idle_tx, idle_rx) = async_channel::unbounded::<SendRequest<Full<Bytes>>>();
    let opened = Arc::new(AtomicU64::new(0));
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let scheduled = start + interval * n as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let call = calls[n as usize % calls.len()].clone();
        let (idle_tx, idle_rx, opened) = (idle_tx.clone(), idle_rx.clone(), Arc::clone(&opened));
        tasks.push(tokio::spawn(async move {
            let mut sender = match idle_rx.try_recv() {
                Ok(s) => s,
                Err(_) if opened.fetch_add(1, Ordering::Relaxed) < max_connections as u64 => {
                    connect(addr).await?
                }
                Err(_) => idle_rx.recv().await.map_err(|e| e.to_string())?,
            };
            let waited = scheduled.elapsed();
            let result = send(&mut sender, addr, &call).await;
            let latency = scheduled.elapsed();
            let Ok(answer) = result else {
                return Ok((false, latency, latency));
            };
            let _ = idle_tx.send(sender).await;
            Ok::<_, String>((answer.status == 200, latency, waited + answer.first_byte))
        }));
    }
    let (mut tally, mut first_byte) = (Tally::default(), Tally::default());
    for t in tasks {
        match t.await.map_err(|e| e.to_string())? {
            Ok((ok, latency, to_first_byte)) => {
                tally.record(ok, latency);
                first_byte.record(ok, to_first_byte);
            }
            // No connection to send it on.
            Err(_) => tally.errors += 1,
        }
    }
    Ok(LoadResult::from(
        &tally,
        &first_byte,
        duration.as_secs_f64(),
    ))
}
