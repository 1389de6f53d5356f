//! A worker thread: owns one isolate at a time, takes jobs from the shared
//! queue, and replaces its isolate when it is poisoned or worn out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;
use tokio::sync::{oneshot, watch};

use crate::config::PoolConfig;
use crate::error::{RenderError, RenderOutcome, ReplaceReason, StartError};
use crate::event_loop::{EventLoop, Start};
use crate::isolate::{LoadReport, RenderIsolate};
pub(crate) use crate::job::{Job, JobClaim};
use crate::observe::{CodeCacheStore, PoolObserver};
use crate::script::CacheOutcome;
use crate::Sample;

/// What the pool's workers share.
pub(crate) struct Shared {
    pub bundle: Bundle,
    pub config: PoolConfig,
    pub samples: Vec<Sample>,
    pub observer: Arc<dyn PoolObserver>,
    /// Sends the renders' `fetch` requests; None when fetch is off.
    pub fetcher: Option<Arc<crate::fetch::Fetcher>>,
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
        let was = self.busy_since[id].load(Ordering::Relaxed);
        if busy && was != 0 {
            return;
        }
        self.busy_since[id].store(since, Ordering::Relaxed);
        if busy != (was != 0) {
            self.observer.worker_busy(id, busy);
        }
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
    // The loop sleeps on this runtime between runs into JavaScript (timers,
    // jobs, stream room, callers leaving); nothing else runs on it.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            shared.status.send_modify(|s| {
                s.failed
                    .get_or_insert(StartError::Thread(error.to_string()));
            });
            return;
        }
    };
    let mut first = true;
    loop {
        let Some(isolate) = start_isolate(id, &name, &shared, &runtime, first) else {
            return;
        };
        first = false;
        shared.observer.worker_ready(id, true);
        shared.status.send_modify(|s| s.ready += 1);

        let mut event_loop = EventLoop::new(isolate, id, &shared, &runtime);
        let reason = serve(id, &shared, &jobs, &mut event_loop);
        drop(event_loop);
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

/// Takes jobs while the isolate has room, until the queue closes (None) or
/// the isolate must be replaced (Some(reason)). A poisoned isolate fails its
/// renders in flight at once; a worn-out one takes no new job and finishes
/// them first.
fn serve(
    id: usize,
    shared: &Shared,
    jobs: &async_channel::Receiver<Job>,
    event_loop: &mut EventLoop,
) -> Option<ReplaceReason> {
    let mut closed = false;
    let mut since_check = 0u32;
    loop {
        shared.set_busy(id, true);
        event_loop.step();
        since_check += 1;
        let check_memory = since_check >= 16;
        if check_memory {
            since_check = 0;
            shared
                .observer
                .heap_used(id, event_loop.isolate.heap_used());
            shared
                .observer
                .isolate_memory(id, event_loop.isolate.memory_used());
        }
        event_loop.decide_replacement(check_memory);
        if let Some(reason) = event_loop.retiring {
            if event_loop.isolate.poisoned.is_some() {
                event_loop.fail_all(reason);
            } else {
                event_loop.drain(jobs);
            }
            shared.set_busy(id, false);
            return Some(reason);
        }
        let take_jobs = !closed && event_loop.has_room();
        if take_jobs {
            match jobs.try_recv() {
                Ok(job) => {
                    accept(id, shared, event_loop, job);
                    continue;
                }
                Err(async_channel::TryRecvError::Closed) => closed = true,
                Err(async_channel::TryRecvError::Empty) => {}
            }
        }
        if closed && event_loop.in_flight() == 0 {
            shared.set_busy(id, false);
            return None;
        }
        shared.set_busy(id, false);
        match event_loop.wait_for_work(jobs, take_jobs && !closed) {
            Some(Ok(job)) => {
                shared.set_busy(id, true);
                accept(id, shared, event_loop, job);
            }
            Some(Err(())) => closed = true,
            None => {}
        }
    }
}

/// Starts a job unless its caller went away, gave up, or waited too long.
fn accept(id: usize, shared: &Shared, event_loop: &mut EventLoop, job: Job) {
    let config = &shared.config;
    if job.reply.is_closed() || !job.claim.start() {
        // The caller went away (or gave up) while the job was queued.
        shared
            .observer
            .render_finished(id, RenderOutcome::Cancelled, Duration::ZERO);
        return;
    }
    let queued = job.enqueued.elapsed();
    if queued > config.queue_timeout {
        let error = RenderError::QueueTimeout(queued);
        shared
            .observer
            .render_finished(id, RenderOutcome::Failed(error.kind()), Duration::ZERO);
        let _ = job.reply.send(Err(error));
        return;
    }
    event_loop.start(Start {
        component: job.request.component,
        props: job.request.props,
        headers: job.request.headers,
        timeout: config.deadline_for(job.request.timeout),
        queued,
        reply: job.reply,
        claim: job.claim,
    });
}

/// Creates, loads and warms an isolate. On the first start a load failure is
/// reported to the pool and ends the worker; later (replacement) failures are
/// retried, since the same bundle loaded before.
fn start_isolate(
    id: usize,
    name: &str,
    shared: &Shared,
    runtime: &tokio::runtime::Runtime,
    first: bool,
) -> Option<RenderIsolate> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match load(id, name, shared, runtime, first) {
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

fn load(
    id: usize,
    name: &str,
    shared: &Shared,
    runtime: &tokio::runtime::Runtime,
    first: bool,
) -> Result<RenderIsolate, StartError> {
    let cached = shared
        .code_cache
        .as_ref()
        .and_then(|store| store.load(&shared.bundle.hash(), shared.v8_tag));
    let (mut isolate, report) =
        RenderIsolate::new(name, &shared.bundle, &shared.config, cached.as_deref())?;
    crate::runtime::state(&mut isolate.isolate).fetcher = shared.fetcher.clone();
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
    let mut isolate = warm_up(id, shared, runtime, isolate, &report, warmup);
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

/// Runs the warm-up renders, one at a time through the isolate's event
/// loop, so the hot functions are compiled (and land in the code cache)
/// before real requests arrive.
fn warm_up(
    id: usize,
    shared: &Shared,
    runtime: &tokio::runtime::Runtime,
    isolate: RenderIsolate,
    report: &LoadReport,
    count: usize,
) -> RenderIsolate {
    if count == 0 {
        return isolate;
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
    let mut event_loop = EventLoop::new(isolate, id, shared, runtime).uncounted();
    // Nothing is ever sent on this queue: warm-up takes no job.
    let (_idle, no_jobs) = async_channel::bounded::<Job>(1);
    // A sample that fails once is dropped: warm-up must not spend its time
    // on errors (or on a hostile sample's deadline, over and over).
    let mut failed = vec![false; samples.len()];
    let mut failures = 0usize;
    for i in 0..count {
        if failures == samples.len() || event_loop.isolate.poisoned.is_some() {
            break;
        }
        let k = i % samples.len();
        if failed[k] {
            continue;
        }
        let sample = &samples[k];
        let (reply, answer) = oneshot::channel::<Result<crate::Rendered, RenderError>>();
        // Read the answer while the loop runs: a stream must be drained for
        // its render to finish.
        let reader = runtime.spawn(async move {
            match answer.await {
                Ok(Ok(rendered)) => rendered.into_html().await,
                Ok(Err(error)) => Err(error),
                Err(_) => Err(RenderError::WorkerLost),
            }
        });
        event_loop.start(Start {
            component: sample.component.clone(),
            props: sample.props.clone(),
            headers: Vec::new(),
            timeout: shared.config.render_timeout,
            queued: Duration::ZERO,
            reply,
            claim: Arc::new(JobClaim::default()),
        });
        event_loop.drain(&no_jobs);
        let result = runtime
            .block_on(reader)
            .unwrap_or(Err(RenderError::WorkerLost));
        if let Err(error) = result {
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
    event_loop.isolate
}
