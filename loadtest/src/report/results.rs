//! What a report measured, and the figures derived from it that both the
//! Markdown and the JSON show.

use std::collections::BTreeMap;
use std::time::Duration;

use super::hand_off::HandOffs;
use crate::http::LoadResult;
use crate::node::NodeResult;
use crate::servers::Kind;

/// Jobs in each Hypernova batch of the batch scenario.
pub const BATCH_JOBS: usize = 8;

/// Everything measured for one server kind on one page.
#[derive(Debug, Default, serde::Serialize)]
pub struct KindResult {
    /// Closed-loop throughput by worker count.
    pub by_workers: BTreeMap<usize, LoadResult>,
    /// Open loop at 70% of the peak.
    pub at_70: Option<LoadResult>,
    pub rss_kib_1: u64,
    pub rss_kib_n: u64,
    pub per_process_kib: Vec<u64>,
    pub cold_start_ms: f64,
}

impl KindResult {
    /// (workers, requests/s) points.
    pub fn throughput(&self) -> Vec<(f64, f64)> {
        self.by_workers
            .iter()
            .map(|(w, r)| (*w as f64, r.per_sec))
            .collect()
    }

    /// (0..=3, ms) points for p50, p90, p99 and p99.9 of the closed loop at
    /// `workers`.
    pub fn percentiles(&self, workers: usize) -> Option<Vec<(f64, f64)>> {
        let r = self.by_workers.get(&workers)?;
        Some(
            [r.p50_us, r.p90_us, r.p99_us, r.p999_us]
                .iter()
                .enumerate()
                .map(|(i, us)| (i as f64, *us as f64 / 1e3))
                .collect(),
        )
    }
}

/// One page: the Node loop (B1) and every server kind that ran.
pub struct PageResult {
    pub name: &'static str,
    /// Workers of the servers at their peak.
    pub workers: usize,
    pub b1: NodeResult,
    /// By [`Kind::label`].
    pub kinds: BTreeMap<&'static str, KindResult>,
    /// The service's cold start with no warm-up renders.
    pub no_warmup_ms: f64,
    /// `ssr-bench code-cache` on the page: isolates compiled cold, from the
    /// code cache and from a start-up snapshot (its `code-cache.json`).
    pub isolate_start: serde_json::Value,
}

impl PageResult {
    /// A figure of `isolate_start` by its JSON path (NaN when absent).
    pub fn start_figure(&self, path: &[&str]) -> f64 {
        path.iter()
            .try_fold(&self.isolate_start, |value, key| value.get(*key))
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    }
}

/// `a / b`, NaN when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

impl PageResult {
    fn kind(&self, kind: Kind) -> Option<&KindResult> {
        self.kinds.get(kind.label())
    }

    /// Closed-loop requests/s of `kind` at all workers (NaN: not measured).
    pub fn peak(&self, kind: Kind) -> f64 {
        self.kind(kind)
            .and_then(|r| r.by_workers.get(&self.workers))
            .map_or(f64::NAN, |r| r.per_sec)
    }

    /// The service's peak over `kind`'s.
    pub fn service_over(&self, kind: Kind) -> f64 {
        ratio(self.peak(Kind::Service), self.peak(kind))
    }

    /// The service's peak over as many Node loops as it has workers.
    pub fn service_over_n_b1(&self) -> f64 {
        let loops = self.workers as f64 * self.b1.renders_per_sec;
        ratio(self.peak(Kind::Service), loops)
    }

    /// p99 over p50 of `kind`'s open loop at 70% of its peak.
    pub fn tail(&self, kind: Kind) -> f64 {
        self.kind(kind)
            .and_then(|r| r.at_70.as_ref())
            .map_or(f64::NAN, |r| r.p99_us as f64 / r.p50_us.max(1) as f64)
    }

    /// MiB that each worker past the first adds to `kind`'s resident memory.
    pub fn extra_mib(&self, kind: Kind) -> f64 {
        self.kind(kind).map_or(f64::NAN, |r| {
            (r.rss_kib_n as f64 - r.rss_kib_1 as f64) / (self.workers.max(2) - 1) as f64 / 1024.0
        })
    }

    /// MiB of the largest cluster worker: a whole Node process, the cost of
    /// one more worker.
    pub fn node_process_mib(&self) -> f64 {
        self.kind(Kind::NodeCluster)
            .and_then(|r| r.per_process_kib.iter().skip(1).copied().max())
            .map_or(f64::NAN, |k| k as f64 / 1024.0)
    }

    /// Time from spawning `kind` (at all workers) to its first answered render.
    pub fn cold_ms(&self, kind: Kind) -> f64 {
        self.kind(kind).map_or(f64::NAN, |r| r.cold_start_ms)
    }
}

/// HTTP + dispatch overhead on one page, one request at a time: mean ms as
/// the client saw it, of the pool round trip in the handler, and inside the
/// isolate.
pub struct Overhead {
    pub page: &'static str,
    pub client: f64,
    pub pool: f64,
    pub render: f64,
    /// Queued until a worker took the job: the hand-over to the worker.
    pub queue: f64,
    /// The same two hand-offs between bare threads (`hand_off.rs`).
    pub floor: HandOffs,
}

impl Overhead {
    /// The hand-back: the pool round trip beyond the render and the
    /// hand-over (the answer reaching the handler).
    pub fn hand_back(&self) -> f64 {
        self.pool - self.render - self.queue
    }

    /// What the client saw beyond the render, in percent of the render.
    pub fn client_percent(&self) -> f64 {
        (self.client - self.render) / self.render * 100.0
    }

    /// The bare threads' two hand-offs, in percent of the render.
    pub fn floor_percent(&self) -> f64 {
        (self.floor.over + self.floor.back) / self.render * 100.0
    }

    /// The pool round trip beyond the render, in percent of the render.
    pub fn dispatch_percent(&self) -> f64 {
        (self.pool - self.render) / self.render * 100.0
    }
}

/// The extra scenarios on the service.
pub struct Scenarios {
    /// A mix of pages and props.
    pub mixed: LoadResult,
    /// Hypernova batches of [`BATCH_JOBS`] jobs.
    pub batches: LoadResult,
}

impl Scenarios {
    pub fn batch_renders_per_sec(&self) -> f64 {
        self.batches.per_sec * BATCH_JOBS as f64
    }
}

/// A whole report.
pub struct Report {
    pub workers: usize,
    /// Measured per point.
    pub seconds: Duration,
    pub pages: Vec<PageResult>,
    pub overhead: Overhead,
    pub scenarios: Scenarios,
    /// Time the measurements took.
    pub elapsed: Duration,
}
