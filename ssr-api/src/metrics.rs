//! Prometheus metrics. [`Metrics`] is also the pool's observer, so render,
//! worker and code-cache events land here without the pool knowing
//! Prometheus.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use pool::{CacheOutcome, FetchOutcome, PoolObserver, RenderOutcome, ReplaceReason};

use crate::errors::Code;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    renders: IntCounterVec,
    render_duration: HistogramVec,
    queue_depth: IntGauge,
    workers_busy: IntGauge,
    workers_ready: IntGauge,
    code_cache: IntCounterVec,
    compile_duration: HistogramVec,
    isolate_restarts: IntCounterVec,
    idle_collections: IntCounter,
    heap_used: IntGaugeVec,
    isolate_memory: IntGaugeVec,
    fetches: IntCounterVec,
    fetch_bytes: IntCounterVec,
    fetch_duration: HistogramVec,
    bundle_info: IntGaugeVec,
    app_renders: IntCounterVec,
    app_bundle: IntGaugeVec,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

impl Metrics {
    /// Records which bundle is served (`ssr_bundle_info`).
    pub fn bundle_served(&self, bundle: &bundles::Bundle) {
        let hash = bundle.hash().to_string();
        let files = bundle.files().len().to_string();
        self.bundle_info
            .with_label_values(&[hash.as_str(), bundle.format().as_str(), files.as_str()])
            .set(1);
    }

    /// Counts a render of `app` by the bundle that took it (None when the
    /// request reached none) and its outcome.
    pub fn app_render(&self, app: &str, bundle: Option<&bundles::ContentHash>, outcome: &str) {
        let bundle = bundle.map(|b| b.to_string()).unwrap_or_default();
        self.app_renders
            .with_label_values(&[app, bundle.as_str(), outcome])
            .inc();
    }

    /// Records that `app` now renders with `bundle` (and no longer with
    /// `previous`).
    pub fn app_switched(
        &self,
        app: &str,
        previous: Option<&bundles::ContentHash>,
        bundle: Option<&bundles::ContentHash>,
    ) {
        if let Some(previous) = previous {
            let _ = self
                .app_bundle
                .remove_label_values(&[app, previous.to_string().as_str()]);
        }
        if let Some(bundle) = bundle {
            self.app_bundle
                .with_label_values(&[app, bundle.to_string().as_str()])
                .set(1);
        }
    }

    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("ssr".into()), None).expect("valid prefix");
        let r = &registry;
        Self {
            http_requests: register(
                r,
                IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests by route and status"),
                    &["route", "status"],
                )
                .unwrap(),
            ),
            http_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route", "outcome"],
                )
                .unwrap(),
            ),
            renders: register(
                r,
                IntCounterVec::new(
                    Opts::new("renders_total", "Renders by outcome (ok or an error code)"),
                    &["outcome"],
                )
                .unwrap(),
            ),
            render_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new("render_duration_seconds", "Time inside the isolate")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["outcome"],
                )
                .unwrap(),
            ),
            queue_depth: register(
                r,
                IntGauge::new("queue_depth", "Render jobs waiting for a worker").unwrap(),
            ),
            workers_busy: register(
                r,
                IntGauge::new("workers_busy", "Workers rendering right now").unwrap(),
            ),
            workers_ready: register(
                r,
                IntGauge::new("workers_ready", "Workers warm and taking jobs").unwrap(),
            ),
            code_cache: register(
                r,
                IntCounterVec::new(
                    Opts::new("code_cache_total", "Bundle compiles by code-cache outcome"),
                    &["outcome"],
                )
                .unwrap(),
            ),
            compile_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new("bundle_compile_seconds", "Bundle compile time")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["cache"],
                )
                .unwrap(),
            ),
            isolate_restarts: register(
                r,
                IntCounterVec::new(
                    Opts::new("isolate_restarts_total", "Isolates replaced, by reason"),
                    &["reason"],
                )
                .unwrap(),
            ),
            idle_collections: register(
                r,
                IntCounter::new(
                    "idle_collections_total",
                    "Young-generation collections a worker ran between renders",
                )
                .unwrap(),
            ),
            bundle_info: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "bundle_info",
                        "The bundle served: its sha256, format (script or module) and number of files",
                    ),
                    &["bundle", "format", "files"],
                )
                .unwrap(),
            ),
            app_renders: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "app_renders_total",
                        "Renders by app, bundle (sha256; empty when none was reached) and outcome (ok or an error code)",
                    ),
                    &["app", "bundle", "outcome"],
                )
                .unwrap(),
            ),
            app_bundle: register(
                r,
                IntGaugeVec::new(
                    Opts::new("app_bundle_info", "The bundle (sha256) each app renders with"),
                    &["app", "bundle"],
                )
                .unwrap(),
            ),
            heap_used: register(
                r,
                IntGaugeVec::new(
                    Opts::new("heap_used_bytes", "JS heap in use per worker"),
                    &["worker"],
                )
                .unwrap(),
            ),
            isolate_memory: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "isolate_memory_bytes",
                        "Memory an isolate holds: heap, V8's own allocations and ArrayBuffers",
                    ),
                    &["worker"],
                )
                .unwrap(),
            ),
            fetches: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "fetches_total",
                        "Renders' fetches by origin (\"refused\" for origins not allowed) and outcome",
                    ),
                    &["origin", "outcome"],
                )
                .unwrap(),
            ),
            fetch_bytes: register(
                r,
                IntCounterVec::new(
                    Opts::new("fetch_response_bytes_total", "Response body bytes fetched, by origin"),
                    &["origin"],
                )
                .unwrap(),
            ),
            fetch_duration: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new("fetch_seconds", "Time of a fetch to the end of its body")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["origin"],
                )
                .unwrap(),
            ),
            registry,
        }
    }

    pub fn observe_http(&self, route: &str, status: u16, elapsed: Duration) {
        let status_label = status.to_string();
        self.http_requests
            .with_label_values(&[route, &status_label])
            .inc();
        let outcome = if status < 400 { "ok" } else { "error" };
        self.http_duration
            .with_label_values(&[route, outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the queue depth sampled now.
    pub fn render(&self, queue_depth: usize) -> String {
        self.queue_depth.set(queue_depth as i64);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("exposition is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolObserver for Metrics {
    fn render_finished(&self, _worker: usize, outcome: RenderOutcome, render_time: Duration) {
        let label = match outcome {
            RenderOutcome::Ok => "ok",
            RenderOutcome::AbortedAtDeadline => "aborted_at_deadline",
            RenderOutcome::Cancelled => "cancelled",
            RenderOutcome::Failed(kind) => Code::from(kind).name(),
        };
        self.renders.with_label_values(&[label]).inc();
        if outcome != RenderOutcome::Cancelled {
            self.render_duration
                .with_label_values(&[label])
                .observe(render_time.as_secs_f64());
        }
    }

    fn worker_busy(&self, _worker: usize, busy: bool) {
        if busy {
            self.workers_busy.inc();
        } else {
            self.workers_busy.dec();
        }
    }

    fn bundle_compiled(&self, _worker: usize, outcome: CacheOutcome, compile: Duration) {
        self.code_cache.with_label_values(&[outcome.as_str()]).inc();
        self.compile_duration
            .with_label_values(&[outcome.as_str()])
            .observe(compile.as_secs_f64());
    }

    fn isolate_replaced(&self, _worker: usize, reason: ReplaceReason) {
        self.isolate_restarts
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    fn idle_collection(&self, _worker: usize) {
        self.idle_collections.inc();
    }

    fn heap_used(&self, worker: usize, bytes: usize) {
        self.heap_used
            .with_label_values(&[&worker.to_string()])
            .set(bytes as i64);
    }

    fn isolate_memory(&self, worker: usize, bytes: usize) {
        self.isolate_memory
            .with_label_values(&[&worker.to_string()])
            .set(bytes as i64);
    }

    fn fetch_finished(
        &self,
        origin: Option<&str>,
        outcome: FetchOutcome,
        bytes: usize,
        latency: Duration,
    ) {
        // Only allowed origins become labels: a bundle cannot grow the
        // series without bound.
        let origin = origin.unwrap_or("refused");
        self.fetches
            .with_label_values(&[origin, outcome.as_str()])
            .inc();
        if outcome == FetchOutcome::Refused {
            return;
        }
        self.fetch_bytes
            .with_label_values(&[origin])
            .inc_by(bytes as u64);
        self.fetch_duration
            .with_label_values(&[origin])
            .observe(latency.as_secs_f64());
    }

    fn worker_ready(&self, _worker: usize, ready: bool) {
        if ready {
            self.workers_ready.inc();
        } else {
            self.workers_ready.dec();
        }
    }
}
