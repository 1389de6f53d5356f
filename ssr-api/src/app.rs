//! The HTTP application: routes, shared state, and the server start-up used
//! by both `main` and the tests.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use pool::{RenderPool, RenderRequest};

use crate::errors::ApiError;
use crate::hypernova;
use crate::metrics::Metrics;

const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
pub struct AppState {
    pub pool: RenderPool,
    pub metrics: Arc<Metrics>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Put JS stacks in error responses.
    pub debug_errors: bool,
}

/// HTTP server settings for [`start`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub http_workers: usize,
    pub shutdown_timeout: Duration,
}

/// Binds the app to `listener` and returns the running server (poll it to
/// serve; stop it through its handle). Used by `serve` and by the tests.
pub fn start(
    listener: TcpListener,
    state: AppState,
    options: ServerOptions,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(observe))
            .route("/render", web::post().to(render))
            .route("/batch", web::post().to(batch))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics))
            .route("/openapi.json", web::get().to(openapi))
            .default_service(web::to(not_found))
    })
    .workers(options.http_workers)
    .shutdown_timeout(options.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

/// Counts every request by route and status.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Arc::clone(&s.metrics));
    let route = req.match_pattern().unwrap_or_else(|| "other".to_owned());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.observe_http(&route, response.status().as_u16(), started.elapsed());
    }
    Ok(response)
}

/// Reads the body up to `limit` bytes; refuses larger bodies early when the
/// client announces their length.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(announced.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `POST /render` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RenderBody {
    component: String,
    #[serde(default)]
    props: Option<Box<RawValue>>,
    /// Per-request deadline in milliseconds (clamped to the maximum).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

async fn render(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let debug = state.debug_errors;
    let result: Result<HttpResponse, ApiError> = async {
        let body = read_body(&req, payload, state.max_body_bytes).await?;
        let body: RenderBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid render request: {e}")))?;
        let props = body
            .props
            .map_or_else(|| "{}".to_owned(), |p| p.get().to_owned());
        let request = RenderRequest {
            component: body.component,
            props,
            timeout: body.timeout_ms.map(Duration::from_millis),
        };
        let started = Instant::now();
        let output = state.pool.render(request).await?;
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        let render_ms = output.render_time.as_secs_f64() * 1e3;
        let queue_ms = output.queue_time.as_secs_f64() * 1e3;
        let timing = format!(
            "render;dur={render_ms:.3}, queue;dur={queue_ms:.3}, pool;dur={duration_ms:.3}"
        );
        Ok(if wants_json(&req) {
            HttpResponse::Ok()
                .insert_header(("Server-Timing", timing))
                .json(serde_json::json!({
                    "html": output.html,
                    "durationMs": duration_ms,
                    "renderMs": render_ms,
                }))
        } else {
            HttpResponse::Ok()
                .insert_header(("Server-Timing", timing))
                .content_type("text/html; charset=utf-8")
                .body(output.html)
        })
    }
    .await;
    result.unwrap_or_else(|e| {
        log_error(&e);
        e.to_response(debug)
    })
}

fn log_error(error: &ApiError) {
    match error {
        ApiError::Render(pool::RenderError::Js(js)) => {
            tracing::warn!(error = %js, stack = js.stack.as_deref().unwrap_or(""), "render threw");
        }
        other => tracing::debug!(error = %other, "request failed"),
    }
}

async fn batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Like the reference server's body parser: an oversized or malformed
    // body is answered with its status and an empty body.
    let body = match read_body(&req, payload, state.max_body_bytes).await {
        Ok(body) => body,
        Err(ApiError::BodyTooLarge { .. }) => return HttpResponse::PayloadTooLarge().finish(),
        Err(_) => return HttpResponse::BadRequest().finish(),
    };
    let Some(jobs) = hypernova::parse(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let response = hypernova::render_batch(&state.pool, jobs, state.debug_errors).await;
    HttpResponse::Ok().json(response)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let status = state.pool.status();
    let body = serde_json::json!({
        "ready": state.pool.is_ready(),
        "workers": state.pool.workers(),
        "readyWorkers": status.ready,
        "failed": status.failed.as_ref().map(|e| e.to_string()),
    });
    if state.pool.is_ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .json(body)
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(state.pool.queue_depth()))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let message = format!("no route for {} {}", req.method(), req.path());
    HttpResponse::NotFound().json(serde_json::json!({
        "error": {"status": 404, "code": "not_found", "message": message}
    }))
}
