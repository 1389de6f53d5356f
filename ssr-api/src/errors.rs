//! The one table that maps failures to HTTP, and the one JSON error shape:
//!
//! ```json
//! {"error": {"status": 404, "code": "unknown_component", "message": "...", "details": {...}}}
//! ```

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use pool::RenderError;
use serde::Serialize;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the render pool is not ready yet")]
    NotReady,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

impl ApiError {
    /// The table: status, code, and whether a retry may succeed.
    fn table(&self) -> (StatusCode, &'static str, bool) {
        use RenderError as R;
        match self {
            ApiError::Render(e) => {
                let status = match e {
                    R::UnknownComponent(_) => StatusCode::NOT_FOUND,
                    R::InvalidProps(_) => StatusCode::BAD_REQUEST,
                    R::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                    R::OutOfMemory { .. }
                    | R::Overloaded { .. }
                    | R::QueueTimeout(_)
                    | R::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                    R::Js(_)
                    | R::NeverSettled
                    | R::NotAString(_)
                    | R::OutputTooLarge { .. }
                    | R::WorkerLost => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.code(), status == StatusCode::SERVICE_UNAVAILABLE)
            }
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", false),
            ApiError::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", false)
            }
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready", true),
        }
    }

    /// The error as a response; JS stacks only when `debug` is on.
    pub fn to_response(&self, debug: bool) -> HttpResponse {
        let (status, code, retry) = self.table();
        let details = match self {
            ApiError::Render(RenderError::Js(js)) => {
                let mut details = serde_json::json!({"name": js.name, "message": js.message});
                if let (true, Some(stack)) = (debug, &js.stack) {
                    details["stack"] = stack.as_str().into();
                }
                Some(details)
            }
            _ => None,
        };
        let mut response = HttpResponse::build(status);
        if retry {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                status: status.as_u16(),
                code,
                message: self.to_string(),
                details,
            },
        })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.table().0
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response(false)
    }
}
