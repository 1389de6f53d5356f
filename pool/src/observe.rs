//! Hooks through which the pool reports what it does. The pool knows no
//! metrics library; the server implements these and exports them.

use std::time::Duration;

use bundles::ContentHash;

use crate::error::{RenderOutcome, ReplaceReason};
use crate::script::CacheOutcome;

/// Receives events from the pool's workers. Every method has a no-op
/// default, and all are called from worker threads, so keep them cheap.
pub trait PoolObserver: Send + Sync + 'static {
    /// A job finished: rendered, failed, or dropped because its caller left.
    fn render_finished(&self, _worker: usize, _outcome: RenderOutcome, _render_time: Duration) {}
    /// A worker took a job (`busy`) or finished it.
    fn worker_busy(&self, _worker: usize, _busy: bool) {}
    /// A worker compiled the bundle.
    fn bundle_compiled(&self, _worker: usize, _outcome: CacheOutcome, _compile: Duration) {}
    /// A worker replaced its isolate.
    fn isolate_replaced(&self, _worker: usize, _reason: ReplaceReason) {}
    /// Heap in use after a render.
    fn heap_used(&self, _worker: usize, _bytes: usize) {}
    /// A worker collected an isolate's young generation between renders
    /// (idle, before a job, or between warm-up renders), instead of inside
    /// one.
    fn idle_collection(&self, _worker: usize) {}
    /// Memory the isolate holds (heap, V8's own allocations, buffers).
    fn isolate_memory(&self, _worker: usize, _bytes: usize) {}
    /// A worker became ready (warm) or stopped being ready.
    fn worker_ready(&self, _worker: usize, _ready: bool) {}
    /// A render's `fetch` ended: to `origin` (None: an origin that is not
    /// allowed), with `bytes` of body, after `latency`. Called from the
    /// fetch runtime's thread too.
    fn fetch_finished(
        &self,
        _origin: Option<&str>,
        _outcome: FetchOutcome,
        _bytes: usize,
        _latency: Duration,
    ) {
    }
}

/// How a render's `fetch` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A response with its whole body (any status).
    Ok,
    /// The origin, or a redirect's, is not allowed.
    Refused,
    /// A network or protocol failure.
    Failed,
    /// Past the per-request timeout.
    TimedOut,
    /// Past the render's response byte limit.
    TooLarge,
    /// Aborted by its signal, or because its render ended.
    Aborted,
}

impl FetchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchOutcome::Ok => "ok",
            FetchOutcome::Refused => "refused",
            FetchOutcome::Failed => "failed",
            FetchOutcome::TimedOut => "timed_out",
            FetchOutcome::TooLarge => "too_large",
            FetchOutcome::Aborted => "aborted",
        }
    }
}

/// An observer that ignores everything.
pub struct NoopObserver;
impl PoolObserver for NoopObserver {}

/// Where workers get and put V8 code cache for a bundle. The pool never does
/// file I/O itself; the server plugs its content-addressed cache in here.
pub trait CodeCacheStore: Send + Sync + 'static {
    /// Cached data for `bundle` compiled by V8 with `v8_tag`, if any.
    fn load(&self, bundle: &ContentHash, v8_tag: u32) -> Option<Vec<u8>>;
    /// New cached data for `bundle`, produced after warm-up.
    fn store(&self, bundle: &ContentHash, v8_tag: u32, bytes: Vec<u8>);
    /// V8 rejected the data `load` returned; drop it.
    fn reject(&self, _bundle: &ContentHash, _v8_tag: u32) {}
}
