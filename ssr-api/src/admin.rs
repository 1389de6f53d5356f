//! The admin API: uploading bundles, pointing apps at them, listing and
//! deleting. Off unless a token is configured; every request must carry it
//! as `Authorization: Bearer <token>`. Served under `/admin` on the main
//! listener, or alone on `--admin-listen`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bundles::ContentHash;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::{read_body_within, AppState};
use crate::errors::ApiError;

/// The admin token, kept only as its digest: requests are checked by
/// comparing digests in constant time, so neither the token's bytes nor
/// its length show in the timing.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// The token in `path` (surrounding white space ignored; it must not be
    /// empty).
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read admin token {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("admin token file {} is empty", path.display()));
        }
        Ok(Self(Sha256::digest(token.as_bytes()).into()))
    }

    fn admits(&self, req: &HttpRequest) -> bool {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        !given.is_empty() && bool::from(digest.ct_eq(&self.0))
    }
}

/// Mounts the admin routes (each checks the token first).
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/admin/bundles", web::get().to(list_bundles))
        .route("/admin/bundles/{sha256}", web::get().to(get_bundle))
        .route("/admin/bundles/{sha256}", web::put().to(put_bundle))
        .route("/admin/bundles/{sha256}", web::delete().to(delete_bundle))
        .route(
            "/admin/bundles/{sha256}/samples",
            web::put().to(put_samples),
        )
        .route("/admin/apps", web::get().to(list_apps))
        .route("/admin/apps/{app}", web::put().to(put_app))
        .route("/admin/apps/{app}", web::delete().to(delete_app));
}

fn authorize(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match &state.admin_token {
        Some(token) if token.admits(req) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The bundle the request's path names, once its token is checked.
fn authorized_bundle(
    req: &HttpRequest,
    state: &AppState,
    path: &str,
) -> Result<ContentHash, ApiError> {
    authorize(req, state)?;
    parse_id(path)
}

/// A bundle id in a path or body: 64 hex digits, optionally `sha256:`.
pub fn parse_id(text: &str) -> Result<ContentHash, ApiError> {
    text.strip_prefix("sha256:")
        .unwrap_or(text)
        .parse()
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "\"{}\" is not a sha256 (64 hex digits)",
                crate::errors::echo(text)
            ))
        })
}

async fn list_bundles(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "bundles": state.registry.list() })))
}

async fn get_bundle(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = authorized_bundle(&req, &state, &path)?;
    let info = state
        .registry
        .info(&id)
        .ok_or(ApiError::unknown_bundle(id))?;
    Ok(HttpResponse::Ok().json(info))
}

/// `PUT /admin/bundles/{sha256}`: the body is the bundle. Answers once it
/// is warm on every worker (201), or refused (422 with the reason).
async fn put_bundle(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = authorized_bundle(&req, &state, &path)?;
    let body = read_body_within(&req, payload, state.max_bundle_bytes, &state.http).await?;
    let info = state.registry.upload(id, &body).await?;
    Ok(HttpResponse::Created().json(info))
}

/// `PUT /admin/bundles/{sha256}/samples`: warm-up samples for a bundle,
/// sent before the bundle; a failing sample refuses it.
async fn put_samples(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = authorized_bundle(&req, &state, &path)?;
    let body = read_body_within(&req, payload, state.http.max_body_bytes, &state.http).await?;
    let samples: Vec<pool::Sample> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "samples must be a JSON array of {{\"component\", \"props\"}} objects: {e}"
        ))
    })?;
    state.registry.put_samples(&id, &samples)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_bundle(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = authorized_bundle(&req, &state, &path)?;
    state.registry.delete(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_apps(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "apps": state.registry.apps() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointApp {
    bundle: String,
}

/// `PUT /admin/apps/{app}` with `{"bundle": "sha256:..."}`: switches the
/// app once the bundle is warm on every worker.
async fn put_app(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    let body = read_body_within(&req, payload, state.http.max_body_bytes, &state.http).await?;
    let point: PointApp = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"bundle\": \"<sha256>\"}}: {e}")))?;
    let id = parse_id(&point.bundle)?;
    state.registry.point(&path, &id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "app": path.as_str(), "bundle": id })))
}

async fn delete_app(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize(&req, &state)?;
    state.registry.remove_app(&path).await?;
    Ok(HttpResponse::NoContent().finish())
}
