//! The HTTP application: routes, shared state and handlers. Handlers return
//! `Result<_, ApiError>`; the error table turns failures into answers.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
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

use pool::{RenderBody, RenderPool, RenderRequest, RenderStream};

use crate::admin::{self, AdminToken};
use crate::errors::{ApiError, Code};
use crate::hypernova;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::settings::HttpConfig;

const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
pub struct AppState {
    pub pool: RenderPool,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub http: HttpConfig,
    /// None turns the admin API off.
    pub admin_token: Option<AdminToken>,
    /// Largest bundle an upload may carry.
    pub max_bundle_bytes: usize,
}

/// Where the admin API is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoutes {
    /// Not on this listener.
    Off,
    /// Beside the render API.
    Here,
}

/// Binds the app to `listener` and returns the running server (poll it to
/// serve; stop it through its handle).
pub fn start(
    listener: TcpListener,
    state: web::Data<AppState>,
    admin_routes: AdminRoutes,
) -> std::io::Result<Server> {
    let http = state.http.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(observe))
            .service(post_only("/render", render))
            .service(post_only("/batch", batch))
            .service(post_only("/apps/{app}/batch", batch))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics))
            .route("/openapi.json", web::get().to(openapi))
            .configure(|config| {
                if admin_routes == AdminRoutes::Here {
                    admin::routes(config);
                }
            })
            .default_service(web::to(not_found))
    })
    .workers(http.http_workers)
    .shutdown_timeout(http.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

/// The admin API alone, on its own listener.
pub fn start_admin(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let http = state.http.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(observe))
            .configure(admin::routes)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .shutdown_timeout(http.shutdown_timeout.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

/// A resource answering POST with `handler` and any other method with 405.
fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(web::to(|req: HttpRequest| async move {
            Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allow: "POST",
            })
        }))
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

/// Reads a request body up to the configured limit.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    http: &HttpConfig,
) -> Result<Bytes, ApiError> {
    read_body_within(req, payload, http.max_body_bytes, http).await
}

/// Reads the body up to `limit` bytes within the body timeout; refuses
/// larger bodies early when the client announces their length.
pub async fn read_body_within(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    http: &HttpConfig,
) -> Result<Bytes, ApiError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let read = collect_body(payload, announced.unwrap_or(0), limit);
    tokio::time::timeout(http.body_timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout {
            secs: http.body_timeout.as_secs(),
        })?
}

async fn collect_body(
    mut payload: web::Payload,
    announced: usize,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::with_capacity(announced);
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
struct RenderRequestBody {
    component: String,
    #[serde(default)]
    props: Option<Box<RawValue>>,
    /// Per-request deadline in milliseconds (clamped to the pool's range).
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// The app whose bundle renders it (default: `default`).
    #[serde(default)]
    app: Option<String>,
    /// A bundle to render with (`sha256:<hex>`), whatever the app points at.
    #[serde(default)]
    bundle: Option<String>,
}

impl RenderRequestBody {
    /// The render request; props must be a JSON object (or absent/null).
    fn into_request(self, registry: &Registry) -> Result<RenderRequest, ApiError> {
        let bundle = match &self.bundle {
            Some(text) => {
                let id = admin::parse_id(text)?;
                let served = registry.served(&id).ok_or(ApiError::unknown_bundle(id))?;
                Some(served)
            }
            None => None,
        };
        let props = match self.props {
            None => "{}".to_owned(),
            Some(raw) if raw.get() == "null" => "{}".to_owned(),
            Some(raw) if raw.get().starts_with('{') => raw.get().to_owned(),
            Some(_) => {
                return Err(ApiError::InvalidProps(
                    "props must be a JSON object".to_owned(),
                ))
            }
        };
        Ok(RenderRequest {
            timeout: self.timeout_ms.map(Duration::from_millis),
            app: self.app,
            bundle,
            ..RenderRequest::new(self.component, props)
        })
    }
}

/// The request's headers of `names` (the operator's pass-through list),
/// each with its values joined as the Fetch Standard combines them.
fn forwarded_headers(req: &HttpRequest, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|name| {
            let values: Vec<&str> = req
                .headers()
                .get_all(name.as_str())
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| (name.clone(), values.join(", ")))
        })
        .collect()
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
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state.http).await?;
    let body: RenderRequestBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid render request: {e}")))?;
    let mut request = body.into_request(&state.registry)?;
    request.headers = forwarded_headers(&req, &state.http.forward_headers);
    let app = metric_app(&request);
    let started = Instant::now();
    let debug = state.http.debug_errors;
    let failed = |e: pool::RenderError| {
        log_render_error(&e);
        ApiError::render(e, debug)
    };
    let rendered = state.pool.render_streaming(request).await;
    state.count_render(&app, &rendered);
    let rendered = rendered.map_err(failed)?;
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    let render_ms = rendered.render_time.as_secs_f64() * 1e3;
    let queue_ms = rendered.queue_time.as_secs_f64() * 1e3;
    let timing =
        format!("render;dur={render_ms:.3}, queue;dur={queue_ms:.3}, pool;dur={duration_ms:.3}");
    if wants_json(&req) {
        // JSON has no streaming: a stream is read to its end first.
        let html = rendered.into_html().await.map_err(failed)?;
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        return Ok(HttpResponse::Ok()
            .insert_header(("Server-Timing", timing))
            .json(serde_json::json!({
                "html": html,
                "durationMs": duration_ms,
                "renderMs": render_ms,
            })));
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header(("Server-Timing", timing))
        .content_type("text/html; charset=utf-8");
    Ok(match rendered.body {
        RenderBody::Html(html) => response.body(html),
        RenderBody::Stream(stream) => response.streaming(body_stream(stream)),
    })
}

/// A render's stream as an HTTP body: each chunk is written as soon as the
/// render emits it. A failure after the first byte ends the response with an
/// error, so the connection closes without the terminating chunk: clients
/// and proxies see an incomplete response, never a truncated page that looks
/// complete.
fn body_stream(
    stream: RenderStream,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        let cut_off = |error: pool::RenderError| {
            tracing::warn!(%error, "a streamed render failed after its first byte");
            actix_web::error::ErrorInternalServerError(error.to_string())
        };
        match stream.next().await {
            Some(Ok(chunk)) => Some((Ok(chunk), Some(stream))),
            Some(Err(error)) => Some((Err(cut_off(error)), None)),
            None if stream.is_complete() => None,
            None => Some((Err(cut_off(pool::RenderError::WorkerLost)), None)),
        }
    })
}

impl AppState {
    /// Counts a render by app (see [`metric_app`]), bundle and how it
    /// started.
    pub fn count_render(&self, app: &str, rendered: &Result<pool::Rendered, pool::RenderError>) {
        // A name that is no app is not a label: labels stay bounded.
        let app = match rendered {
            Err(pool::RenderError::UnknownApp(_)) => "",
            _ => app,
        };
        match rendered {
            Ok(rendered) => {
                let id = self.registry.id_of(&rendered.bundle);
                self.metrics.app_render(app, Some(&id), "ok");
            }
            Err(error) => {
                self.metrics
                    .app_render(app, None, Code::from(error.kind()).name());
            }
        }
    }
}

/// The app a request counts under: the one it names, `default` when it
/// names none, and none when it pins a bundle.
pub fn metric_app(request: &RenderRequest) -> String {
    match (&request.app, &request.bundle) {
        (Some(app), _) => app.clone(),
        (None, Some(_)) => String::new(),
        (None, None) => pool::DEFAULT_APP.to_owned(),
    }
}

pub fn log_render_error(error: &pool::RenderError) {
    match error {
        pool::RenderError::Js(js) => {
            tracing::warn!(error = %js, stack = js.stack.as_deref().unwrap_or(""), "render threw");
        }
        other => tracing::debug!(error = %other, "render failed"),
    }
}

/// `POST /batch`: Hypernova's protocol, answered as its reference server
/// answers (see `hypernova.rs`).
async fn batch(
    req: HttpRequest,
    app: Option<web::Path<String>>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let app = app.map(web::Path::into_inner);
    if let Some(name) = app.as_deref() {
        if !state.pool.apps().iter().any(|(a, _)| a == name) {
            let error = ApiError::Render(pool::RenderError::UnknownApp(name.to_owned()));
            return actix_web::ResponseError::error_response(&error);
        }
    }
    // Like the reference server's body parser: an oversized or malformed
    // body is answered with its status and an empty body.
    let body = match read_body(&req, payload, &state.http).await {
        Ok(body) => body,
        Err(error) => return HttpResponse::build(error.code().status()).finish(),
    };
    let Some(jobs) = hypernova::parse(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    if jobs.len() > state.http.max_batch_jobs {
        let error = ApiError::TooManyJobs {
            jobs: jobs.len(),
            limit: state.http.max_batch_jobs,
        };
        return actix_web::ResponseError::error_response(&error);
    }
    let base = RenderRequest {
        headers: forwarded_headers(&req, &state.http.forward_headers),
        app,
        ..RenderRequest::new("", "")
    };
    let response = hypernova::render_batch(&state, jobs, &base).await;
    HttpResponse::Ok()
        .content_type(hypernova::CONTENT_TYPE)
        .json(response)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when every worker is warm on every app's bundle.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let status = state.pool.status();
    let ready = state.registry.is_ready();
    let body = serde_json::json!({
        "ready": ready,
        "workers": state.pool.workers(),
        "readyWorkers": status.ready,
        "stuckWorkers": state.pool.stuck_workers(),
        "failed": status.failed.as_ref().map(|e| e.to_string()),
        "apps": state.registry.apps(),
    });
    if ready {
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

/// The OpenAPI document, with the error codes taken from the error table.
pub fn openapi_document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document: serde_json::Value =
            serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON");
        let codes: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
        document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
            ["enum"] = codes.into();
        document.to_string()
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_document())
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}
