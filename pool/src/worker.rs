//! A worker thread: owns one isolate at a time, takes jobs from the shared
//! queue, and replaces its isolate when it is poisoned or worn out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;
use tokio::sync::{oneshot, watch};

use crate::config::PoolConfig;
use crate::error::{RenderError, RenderOutcome, ReplaceReason, StartError};
use crate::isolate::{LoadReport, RenderIsolate};
use crate::observe::{CodeCacheStore, PoolObserver};
use crate::script::CacheOutcome;
use crate::{RenderOutput, RenderRequest, Sample};

/// A render job on its way to a worker.
pub(crate) struct Job {
    pub request: RenderRequest,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Result<RenderOutput, RenderError>>,
    /// Who got to the job first: the worker starting it, or the caller
    /// giving up on it at the queue timeout.
    pub claim: Arc<JobClaim>,
}

/// A job's state between queue and worker.
#[derive(Default)]
pub(crate) struct JobClaim(std::sync::atomic::AtomicU8);

impl JobClaim {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    /// The worker takes the job; false if the caller abandoned it.
    pub fn start(&self) -> bool {
        self.transition(Self::STARTED)
    }

    /// The caller gives up; false if a worker already started the job.
    pub fn abandon(&self) -> bool {
        self.transition(Self::ABANDONED)
    }

    fn transition(&self, to: u8) -> bool {
        self.0
            .compare_exchange(Self::QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// What the pool's workers share.
pub(crate) struct Shared {
    pub bundle: Bundle,
    pub config: PoolConfig,
    pub samples: Vec<Sample>,
    pub observer: Arc<dyn PoolObserver>,
    pub code_cache: Option<Arc<dyn CodeCacheStore>>,
    pub v8_tag: u32,
    /// Set once a worker has produced the code cache for this bundle.
    pub cache_produced: AtomicBool,
    pub status: watch::Sender<PoolStatus>,
    /// Per worker: when its current job started, in milliseconds since
    /// `epoch` plus one (0 while idle).
    pub busy_since: Vec<AtomicU64>,
    pub epoch: Instant,
}

impl Shared {
    fn set_busy(&self, id: usize, busy: bool) {
        let since = if busy {
            self.epoch.elapsed().as_millis() as u64 + 1
        } else {
            0
        };
        self.busy_since[id].store(since, Ordering::Relaxed);
        self.observer.worker_busy(id, busy);
    }

    /// Workers on one job for longer than any job may take (deadline plus
    /// grace, plus a second): they cannot take jobs, whatever holds them.
    pub fn stuck_workers(&self) -> usize {
        let limit =
            self.config.max_render_timeout + self.config.termination_grace + Duration::from_secs(1);
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.busy_since
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .filter(|&since| since != 0 && now.saturating_sub(since) > limit.as_millis() as u64)
            .count()
    }
}

/// The pool's readiness as the workers report it.
#[derive(Debug, Clone, Default)]
pub struct PoolStatus {
    /// Workers that are warm and taking jobs.
    pub ready: usize,
    /// Set when the bundle cannot be loaded at all.
    pub failed: Option<StartError>,
    /// The first load report (components, cache outcome, timings).
    pub first_load: Option<LoadReport>,
    /// Isolates replaced since start.
    pub replaced: u64,
}

pub(crate) fn run(id: usize, shared: Arc<Shared>, jobs: async_channel::Receiver<Job>) {
    let name = format!("ssr-worker-{id}");
    let mut first = true;
    loop {
        let Some(mut isolate) = start_isolate(id, &name, &shared, first) else {
            return;
        };
        first = false;
        shared.observer.worker_ready(id, true);
        shared.status.send_modify(|s| s.ready += 1);

        let reason = serve(id, &shared, &jobs, &mut isolate);
        drop(isolate);
        match reason {
            None => {
                shared.observer.worker_ready(id, false);
                shared.status.send_modify(|s| s.ready -= 1);
                return;
            }
            Some(reason) => {
                tracing::info!(worker = id, reason = reason.as_str(), "replacing isolate")
            }
        }
    }
}

/// Takes jobs until the queue closes (None) or the isolate must be replaced
/// (Some(reason)).
fn serve(
    id: usize,
    shared: &Shared,
    jobs: &async_channel::Receiver<Job>,
    isolate: &mut RenderIsolate,
) -> Option<ReplaceReason> {
    let config = &shared.config;
    let mut since_check = 0u32;
    while let Ok(job) = jobs.recv_blocking() {
        if job.reply.is_closed() || !job.claim.start() {
            // The caller went away (or gave up) while the job was queued.
            shared
                .observer
                .render_finished(id, RenderOutcome::Cancelled, Duration::ZERO);
            continue;
        }
        let queued = job.enqueued.elapsed();
        if queued > config.queue_timeout {
            let error = RenderError::QueueTimeout(queued);
            shared.observer.render_finished(
                id,
                RenderOutcome::Failed(error.kind()),
                Duration::ZERO,
            );
            let _ = job.reply.send(Err(error));
            continue;
        }
        shared.set_busy(id, true);
        let timeout = config.deadline_for(job.request.timeout);
        let started = Instant::now();
        let result = isolate.render(&job.request.component, &job.request.props, timeout);
        let render_time = started.elapsed();
        shared.set_busy(id, false);
        let outcome = match &result {
            Ok(_) => RenderOutcome::Ok,
            Err(e) => RenderOutcome::Failed(e.kind()),
        };
        shared.observer.render_finished(id, outcome, render_time);

        // Decide on replacement before answering, so that whoever sees this
        // answer also sees the worker as not ready while it is replaced.
        // Heap statistics cost a walk over the spaces: read them every 16
        // renders and after failures; the other reasons are checked always.
        since_check += 1;
        let check_heap = outcome != RenderOutcome::Ok || since_check >= 16;
        if check_heap {
            since_check = 0;
            shared.observer.heap_used(id, isolate.heap_used());
            shared.observer.isolate_memory(id, isolate.memory_used());
        }
        let replace = isolate.needs_replacement(config, check_heap);
        if let Some(reason) = replace {
            shared.observer.worker_ready(id, false);
            shared.status.send_modify(|s| {
                s.ready -= 1;
                s.replaced += 1;
            });
            shared.observer.isolate_replaced(id, reason);
        }
        let _ = job.reply.send(result.map(|html| RenderOutput {
            html,
            render_time,
            queue_time: queued,
            worker: id,
        }));
        if replace.is_some() {
            return replace;
        }
    }
    None
}

/// Creates, loads and warms an isolate. On the first start a load failure is
/// reported to the pool and ends the worker; later (replacement) failures are
/// retried, since the same bundle loaded before.
fn start_isolate(id: usize, name: &str, shared: &Shared, first: bool) -> Option<RenderIsolate> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match load(id, name, shared, first) {
            Ok(isolate) => return Some(isolate),
            Err(error) if first => {
                tracing::error!(worker = id, %error, "cannot load bundle");
                shared.status.send_modify(|s| {
                    s.failed.get_or_insert(error);
                });
                return None;
            }
            Err(error) => {
                tracing::error!(worker = id, %error, "cannot replace isolate; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn load(id: usize, name: &str, shared: &Shared, first: bool) -> Result<RenderIsolate, StartError> {
    let cached = shared
        .code_cache
        .as_ref()
        .and_then(|store| store.load(&shared.bundle.hash(), shared.v8_tag));
    let (mut isolate, report) =
        RenderIsolate::new(name, &shared.bundle, &shared.config, cached.as_deref())?;
    shared
        .observer
        .bundle_compiled(id, report.cache, report.compile);
    tracing::debug!(
        worker = id,
        cache = report.cache.as_str(),
        compile_ms = report.compile.as_secs_f64() * 1e3,
        evaluate_ms = report.evaluate.as_secs_f64() * 1e3,
        "bundle loaded"
    );
    if report.cache == CacheOutcome::Rejected {
        if let Some(store) = &shared.code_cache {
            store.reject(&shared.bundle.hash(), shared.v8_tag);
        }
    }
    let warmup = if first {
        shared.config.warmup_renders
    } else {
        shared
            .config
            .replacement_warmup_renders
            .min(shared.config.warmup_renders)
    };
    warm_up(id, shared, &mut isolate, &report, warmup);
    isolate.reset_render_count();
    if let Some(reason) = isolate.needs_replacement(&shared.config, false) {
        // A warm-up sample poisoned the isolate (it timed out, ran out of
        // memory or tampered with builtins): serve from a fresh one, cold.
        tracing::warn!(
            worker = id,
            reason = reason.as_str(),
            "a warm-up render poisoned the isolate; starting a fresh one without warm-up"
        );
        drop(isolate);
        isolate = RenderIsolate::new(name, &shared.bundle, &shared.config, cached.as_deref())?.0;
    }

    if report.cache != CacheOutcome::Hit {
        if let Some(store) = &shared.code_cache {
            if !shared.cache_produced.swap(true, Ordering::AcqRel) {
                match isolate.create_code_cache() {
                    Some(bytes) => store.store(&shared.bundle.hash(), shared.v8_tag, bytes),
                    None => tracing::warn!(worker = id, "V8 produced no code cache"),
                }
            }
        }
    }
    shared.status.send_modify(|s| {
        s.first_load.get_or_insert(report);
    });
    Ok(isolate)
}

/// Runs the warm-up renders so the hot functions are compiled (and land in
/// the code cache) before real requests arrive.
fn warm_up(
    id: usize,
    shared: &Shared,
    isolate: &mut RenderIsolate,
    report: &LoadReport,
    count: usize,
) {
    if count == 0 {
        return;
    }
    let defaults: Vec<Sample>;
    let samples = if shared.samples.is_empty() {
        defaults = report
            .components
            .iter()
            .map(|c| Sample {
                component: c.clone(),
                props: "{}".into(),
            })
            .collect();
        &defaults
    } else {
        &shared.samples
    };
    let started = Instant::now();
    // A sample that fails once is dropped: warm-up must not spend its time
    // on errors (or on a hostile sample's deadline, over and over).
    let mut failed = vec![false; samples.len()];
    let mut failures = 0usize;
    for i in 0..count {
        let k = i % samples.len();
        if failed[k] {
            if failures == samples.len() {
                break;
            }
            continue;
        }
        let sample = &samples[k];
        if let Err(error) = isolate.render(
            &sample.component,
            &sample.props,
            shared.config.render_timeout,
        ) {
            tracing::debug!(worker = id, component = %sample.component, %error, "warm-up render failed");
            failed[k] = true;
            failures += 1;
        }
    }
    tracing::debug!(
        worker = id,
        renders = count,
        failures,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "warm-up done"
    );
}
