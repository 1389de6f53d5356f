//! The one error table and the one JSON error shape:
//!
//! ```json
//! {"error": {"status": 404, "code": "unknown_component", "message": "...", "details": {...}}}
//! ```
//!
//! Each row of [`error_codes!`] gives a code its HTTP status and whether a
//! retry may succeed (`Retry-After`). Render failures, request failures,
//! Hypernova's per-job status codes, metrics labels and the OpenAPI
//! document all take their codes from it; a test checks the README's table
//! against it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use bundles::ContentHash;
use pool::{ErrorKind, JsError, RenderError};
use serde::Serialize;

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// Longest part of a client-supplied value (a component name, a path) that
/// an error message repeats.
const MAX_ECHO_CHARS: usize = 128;

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:ident, retry: $retry:literal;)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant),*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as it appears in error bodies, logs and metrics.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name),*
                }
            }

            pub fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status),*
                }
            }

            /// True when the answer carries `Retry-After`: the failure is
            /// about the service's state, not the request.
            pub fn retry(self) -> bool {
                match self {
                    $(Code::$variant => $retry),*
                }
            }
        }
    };
}

error_codes! {
    BadRequest       => "bad_request",       BAD_REQUEST,           retry: false;
    InvalidProps     => "invalid_props",     BAD_REQUEST,           retry: false;
    HashMismatch     => "hash_mismatch",     BAD_REQUEST,           retry: false;
    Unauthorized     => "unauthorized",      UNAUTHORIZED,          retry: false;
    UnknownComponent => "unknown_component", NOT_FOUND,             retry: false;
    UnknownApp       => "unknown_app",       NOT_FOUND,             retry: false;
    UnknownBundle    => "unknown_bundle",    NOT_FOUND,             retry: false;
    NotFound         => "not_found",         NOT_FOUND,             retry: false;
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED,   retry: false;
    BodyTimeout      => "body_timeout",      REQUEST_TIMEOUT,       retry: false;
    BundleInUse      => "bundle_in_use",     CONFLICT,              retry: false;
    BodyTooLarge     => "body_too_large",    PAYLOAD_TOO_LARGE,     retry: false;
    TooManyJobs      => "too_many_jobs",     PAYLOAD_TOO_LARGE,     retry: false;
    BundleRefused    => "bundle_refused",    UNPROCESSABLE_ENTITY,  retry: false;
    RenderError      => "render_error",      INTERNAL_SERVER_ERROR, retry: false;
    NeverSettled     => "never_settled",     INTERNAL_SERVER_ERROR, retry: false;
    NotAString       => "not_a_string",      INTERNAL_SERVER_ERROR, retry: false;
    OutputTooLarge   => "output_too_large",  INTERNAL_SERVER_ERROR, retry: false;
    WorkerLost       => "worker_lost",       INTERNAL_SERVER_ERROR, retry: false;
    Overloaded       => "overloaded",        SERVICE_UNAVAILABLE,   retry: true;
    QueueTimeout     => "queue_timeout",     SERVICE_UNAVAILABLE,   retry: true;
    OutOfMemory      => "out_of_memory",     SERVICE_UNAVAILABLE,   retry: true;
    ShuttingDown     => "shutting_down",     SERVICE_UNAVAILABLE,   retry: true;
    Timeout          => "timeout",           GATEWAY_TIMEOUT,       retry: false;
}

impl From<ErrorKind> for Code {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::UnknownComponent => Code::UnknownComponent,
            ErrorKind::UnknownApp => Code::UnknownApp,
            ErrorKind::UnknownBundle => Code::UnknownBundle,
            ErrorKind::Js => Code::RenderError,
            ErrorKind::InvalidProps => Code::InvalidProps,
            ErrorKind::Timeout => Code::Timeout,
            ErrorKind::OutOfMemory => Code::OutOfMemory,
            ErrorKind::NeverSettled => Code::NeverSettled,
            ErrorKind::NotAString => Code::NotAString,
            ErrorKind::OutputTooLarge => Code::OutputTooLarge,
            ErrorKind::Overloaded => Code::Overloaded,
            ErrorKind::QueueTimeout => Code::QueueTimeout,
            ErrorKind::ShuttingDown => Code::ShuttingDown,
            ErrorKind::WorkerLost => Code::WorkerLost,
        }
    }
}

/// At most [`MAX_ECHO_CHARS`] of a client-supplied value, for messages.
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        None => value.to_owned(),
        Some((cut, _)) => format!("{}... ({} bytes)", &value[..cut], value.len()),
    }
}

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{}", render_message(.0))]
    Render(RenderError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidProps(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the batch has {jobs} jobs, more than the limit of {limit}")]
    TooManyJobs { jobs: usize, limit: usize },
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    #[error("no route for {method} {}", echo(path))]
    NotFound { method: String, path: String },
    #[error("{method} is not allowed here (allowed: {allow})")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("missing or wrong admin token (send Authorization: Bearer <token>)")]
    Unauthorized,
    #[error("the body's sha256 is {actual}, not the {expected} the path names")]
    HashMismatch {
        expected: ContentHash,
        actual: ContentHash,
    },
    #[error("bundle refused: {0}")]
    BundleRefused(String),
    #[error("bundle {bundle} is in use by app(s) {}", apps.join(", "))]
    BundleInUse {
        bundle: ContentHash,
        apps: Vec<String>,
    },
}

fn render_message(error: &RenderError) -> String {
    match error {
        RenderError::UnknownComponent(name) => {
            format!("Component \"{}\" not registered", echo(name))
        }
        RenderError::UnknownApp(name) => format!("no app named \"{}\"", echo(name)),
        other => other.to_string(),
    }
}

impl From<RenderError> for ApiError {
    fn from(error: RenderError) -> Self {
        ApiError::Render(error)
    }
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
    details: Option<&'a JsError>,
}

impl ApiError {
    pub fn code(&self) -> Code {
        match self {
            ApiError::Render(e) => e.kind().into(),
            ApiError::BadRequest(_) => Code::BadRequest,
            ApiError::InvalidProps(_) => Code::InvalidProps,
            ApiError::BodyTooLarge { .. } => Code::BodyTooLarge,
            ApiError::BodyTimeout { .. } => Code::BodyTimeout,
            ApiError::TooManyJobs { .. } => Code::TooManyJobs,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::Unauthorized => Code::Unauthorized,
            ApiError::HashMismatch { .. } => Code::HashMismatch,
            ApiError::BundleRefused(_) => Code::BundleRefused,
            ApiError::BundleInUse { .. } => Code::BundleInUse,
        }
    }

    /// A bundle this service does not hold (404 `unknown_bundle`).
    pub fn unknown_bundle(id: ContentHash) -> Self {
        ApiError::Render(RenderError::UnknownBundle(id))
    }

    /// A render failure as the API reports it: the JS stack only when
    /// `debug` is on.
    pub fn render(error: RenderError, debug: bool) -> Self {
        match error {
            RenderError::Js(mut js) if !debug => {
                js.stack = None;
                ApiError::Render(RenderError::Js(js))
            }
            other => ApiError::Render(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.code();
        let mut response = HttpResponse::build(code.status());
        if code.retry() {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        let details = match self {
            ApiError::Render(RenderError::Js(js)) => Some(js),
            _ => None,
        };
        response.json(ErrorBody {
            error: ErrorDetail {
                status: code.status().as_u16(),
                code: code.name(),
                message: self.to_string(),
                details,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_render_error_kind_has_a_row_and_codes_are_unique() {
        for kind in ErrorKind::ALL {
            assert!(Code::ALL.contains(&Code::from(kind)));
        }
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
        for code in Code::ALL {
            assert_eq!(
                code.retry(),
                code.status() == StatusCode::SERVICE_UNAVAILABLE,
                "{code:?}"
            );
        }
    }

    #[test]
    fn echoed_values_are_bounded() {
        let long = "x".repeat(1 << 20);
        let message = ApiError::Render(RenderError::UnknownComponent(long)).to_string();
        assert!(message.len() < 300, "{}", message.len());
        assert_eq!(echo("Home"), "Home");
    }
}
