//! Errors a render can end with, as owned `Send` data.

use serde::Serialize;
use std::time::Duration;

/// A JavaScript exception turned into plain data at the V8 boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsError {
    /// The error's `name` (`"Error"`, `"TypeError"`...), or the thrown value's
    /// type for non-Error throws (`"string"`, `"null"`...).
    pub name: String,
    /// The error's `message`, or the thrown value as a string.
    pub message: String,
    /// The `stack` property when the thrown value had one.
    pub stack: Option<String>,
}

impl JsError {
    /// The stack split into lines, as the Hypernova protocol reports it. Falls
    /// back to `name: message` when no stack was captured.
    pub fn stack_lines(&self) -> Vec<String> {
        match &self.stack {
            Some(stack) => stack.lines().map(str::to_owned).collect(),
            None => vec![format!("{}: {}", self.name, self.message)],
        }
    }
}

impl std::fmt::Display for JsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// Why a render produced no HTML.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// No component of that name is registered by the bundle.
    #[error("Component \"{0}\" not registered")]
    UnknownComponent(String),
    /// The component threw, or its promise rejected.
    #[error("render threw {0}")]
    Js(JsError),
    /// The props are not valid JSON.
    #[error("props are not valid JSON: {0}")]
    InvalidProps(String),
    /// The render (including awaited promises and timers) ran past its deadline.
    #[error("render did not finish within {0:?}")]
    Timeout(Duration),
    /// The isolate reached its heap limit during this render.
    #[error("render exceeded the isolate heap limit of {limit_mb} MB")]
    OutOfMemory { limit_mb: usize },
    /// The render returned a promise that can never settle: nothing is left
    /// queued (no microtask, no timer) that could resolve it.
    #[error("render returned a promise that never settles")]
    NeverSettled,
    /// The render returned something other than a string (or a promise of one).
    #[error("render returned {0}, expected a string or a Promise of a string")]
    NotAString(String),
    /// The HTML is larger than the configured output limit.
    #[error("render output of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge { size: usize, limit: usize },
    /// The queue is full: the service is at capacity.
    #[error("render queue is full ({capacity} waiting)")]
    Overloaded { capacity: usize },
    /// The job waited in the queue longer than the queue timeout.
    #[error("render waited {0:?} in the queue, longer than the queue timeout")]
    QueueTimeout(Duration),
    /// The pool is shutting down (or was shut down) and takes no more jobs.
    #[error("render pool is shutting down")]
    ShuttingDown,
    /// The worker stopped before it answered (a bug, or the process is dying).
    #[error("render worker stopped before answering")]
    WorkerLost,
}

impl RenderError {
    /// A stable machine-readable code, used in logs, metrics and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            RenderError::UnknownComponent(_) => "unknown_component",
            RenderError::Js(_) => "render_error",
            RenderError::InvalidProps(_) => "invalid_props",
            RenderError::Timeout(_) => "timeout",
            RenderError::OutOfMemory { .. } => "out_of_memory",
            RenderError::NeverSettled => "never_settled",
            RenderError::NotAString(_) => "not_a_string",
            RenderError::OutputTooLarge { .. } => "output_too_large",
            RenderError::Overloaded { .. } => "overloaded",
            RenderError::QueueTimeout(_) => "queue_timeout",
            RenderError::ShuttingDown => "shutting_down",
            RenderError::WorkerLost => "worker_lost",
        }
    }
}

/// Why the pool could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    #[error("bundle {bundle} threw while loading: {error}")]
    BundleThrew { bundle: String, error: JsError },
    #[error("bundle {bundle} did not finish loading within {timeout:?}")]
    BundleTimeout { bundle: String, timeout: Duration },
    #[error("bundle {bundle} has a syntax error: {error}")]
    Syntax { bundle: String, error: JsError },
    #[error("bundle {bundle} registered no components (call SsrPool.register(name, render))")]
    NoComponents { bundle: String },
    #[error("cannot start worker thread: {0}")]
    Thread(String),
    #[error("invalid pool configuration: {0}")]
    Config(String),
}
