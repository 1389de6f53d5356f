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
    /// This error with its stack mapped through `bundle`'s source map.
    pub(crate) fn mapped(mut self, bundle: &bundles::Bundle) -> Self {
        self.stack = self.stack.map(|stack| bundle.map_stack(&stack));
        self
    }
}

impl JsError {
    /// An `Error` with `message` and no stack (host-side failures).
    pub fn plain(message: impl Into<String>) -> Self {
        JsError {
            name: "Error".into(),
            message: message.into(),
            stack: None,
        }
    }

    /// Where the error was thrown: the top frame of its stack
    /// (`file:line:column`, or `function (file:line:column)`).
    pub fn top_frame(&self) -> Option<&str> {
        let stack = self.stack.as_deref()?;
        stack
            .lines()
            .find_map(|line| line.trim().strip_prefix("at "))
    }

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
    /// The request named an app the pool does not have.
    #[error("no app named \"{0}\"")]
    UnknownApp(String),
    /// The request named a bundle the pool does not serve.
    #[error("bundle {0} is not served here")]
    UnknownBundle(bundles::ContentHash),
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

/// What kind of failure a [`RenderError`] is: the key the service's error
/// table (HTTP status, error code, retry advice) and the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    UnknownComponent,
    UnknownApp,
    UnknownBundle,
    Js,
    InvalidProps,
    Timeout,
    OutOfMemory,
    NeverSettled,
    NotAString,
    OutputTooLarge,
    Overloaded,
    QueueTimeout,
    ShuttingDown,
    WorkerLost,
}

impl ErrorKind {
    /// Every kind, in declaration order (for tables that must cover them all).
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::UnknownComponent,
        ErrorKind::UnknownApp,
        ErrorKind::UnknownBundle,
        ErrorKind::Js,
        ErrorKind::InvalidProps,
        ErrorKind::Timeout,
        ErrorKind::OutOfMemory,
        ErrorKind::NeverSettled,
        ErrorKind::NotAString,
        ErrorKind::OutputTooLarge,
        ErrorKind::Overloaded,
        ErrorKind::QueueTimeout,
        ErrorKind::ShuttingDown,
        ErrorKind::WorkerLost,
    ];
}

impl RenderError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RenderError::UnknownComponent(_) => ErrorKind::UnknownComponent,
            RenderError::UnknownApp(_) => ErrorKind::UnknownApp,
            RenderError::UnknownBundle(_) => ErrorKind::UnknownBundle,
            RenderError::Js(_) => ErrorKind::Js,
            RenderError::InvalidProps(_) => ErrorKind::InvalidProps,
            RenderError::Timeout(_) => ErrorKind::Timeout,
            RenderError::OutOfMemory { .. } => ErrorKind::OutOfMemory,
            RenderError::NeverSettled => ErrorKind::NeverSettled,
            RenderError::NotAString(_) => ErrorKind::NotAString,
            RenderError::OutputTooLarge { .. } => ErrorKind::OutputTooLarge,
            RenderError::Overloaded { .. } => ErrorKind::Overloaded,
            RenderError::QueueTimeout(_) => ErrorKind::QueueTimeout,
            RenderError::ShuttingDown => ErrorKind::ShuttingDown,
            RenderError::WorkerLost => ErrorKind::WorkerLost,
        }
    }
}

/// How a job ended, as workers report it to the [`crate::PoolObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenderOutcome {
    Ok,
    /// A stream that reached its deadline: its signal fired and React
    /// finished it with client-render fallbacks for what was not ready.
    AbortedAtDeadline,
    /// The caller went away (or gave up) before a worker started the job.
    Cancelled,
    Failed(ErrorKind),
}

/// Why a worker replaced its isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplaceReason {
    /// The isolate reached its heap limit.
    HeapLimit,
    /// Execution was terminated (JavaScript held the CPU past its limit).
    /// V8 15.2 isolates are not reused after a termination.
    Terminated,
    /// A render replaced shared intrinsics (`JSON`, `Array.prototype.map`...).
    GlobalsTampered,
    /// `max_renders_per_isolate` was reached.
    MaxRenders,
    /// The heap after a render stayed above `recycle_heap_fraction` of the
    /// limit even after a full collection.
    HeapHighWater,
    /// A fresh context could not be created (fresh-context mode).
    FreshContextFailed,
    /// Dropped to keep its worker within the memory budget (built again
    /// when its bundle is next needed).
    MemoryBudget,
}

impl ReplaceReason {
    /// A stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceReason::HeapLimit => "heap_limit",
            ReplaceReason::Terminated => "terminated",
            ReplaceReason::GlobalsTampered => "globals_tampered",
            ReplaceReason::MaxRenders => "max_renders",
            ReplaceReason::HeapHighWater => "heap_high_water",
            ReplaceReason::FreshContextFailed => "fresh_context_failed",
            ReplaceReason::MemoryBudget => "memory_budget",
        }
    }
}

/// Why the pool could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartError {
    #[error("bundle {bundle} threw while loading: {error}{}", thrown_at(error))]
    BundleThrew { bundle: String, error: JsError },
    #[error("bundle {bundle} did not finish loading within {timeout:?}")]
    BundleTimeout { bundle: String, timeout: Duration },
    #[error("bundle {bundle} reached the heap limit of {limit_mb} MB while loading (raise heap_limit_mb)")]
    BundleOutOfMemory { bundle: String, limit_mb: usize },
    #[error("bundle {bundle} has a syntax error at {at}: {error}")]
    Syntax {
        bundle: String,
        /// `file:line:column`.
        at: String,
        error: JsError,
    },
    #[error("bundle {bundle} registered no components (call SsrPool.register(name, render))")]
    NoComponents { bundle: String },
    #[error("bundle {bundle} did not finish loading: its top-level await at {at} never settled (timers and fetch do not run while a bundle loads)")]
    StalledAwait { bundle: String, at: String },
    #[error("bundle {bundle} failed its warm-up sample {component}: {error}")]
    SampleFailed {
        bundle: String,
        component: String,
        error: String,
    },
    /// The bundle's files could not be read or are refused (size, encoding,
    /// an import that leads outside the bundle).
    #[error("{0}")]
    Bundle(String),
    #[error("cannot start worker thread: {0}")]
    Thread(String),
    #[error("invalid pool configuration: {0}")]
    Config(String),
}

/// ` (at <top frame>)` when the error has a stack.
fn thrown_at(error: &JsError) -> String {
    error
        .top_frame()
        .map(|frame| format!(" (at {frame})"))
        .unwrap_or_default()
}
