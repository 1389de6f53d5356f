//! A worker thread: holds one isolate per bundle the pool serves (a lane
//! each, with its own event loop), takes jobs from each bundle's shared
//! queue, and replaces an isolate when it is poisoned or worn out.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;
use tokio::sync::{oneshot, watch};

use crate::config::PoolConfig;
use crate::error::{RenderError, RenderOutcome, ReplaceReason, StartError};
use crate::event_loop::{EventLoop, Start, Wake};
use crate::isolate::{LoadReport, RenderIsolate};
pub(crate) use crate::job::{Job, JobClaim};
use crate::observe::{CodeCacheStore, PoolObserver};
use crate::script::CacheOutcome;
use crate::warmup::{warm_up, Tally, Warming};
use crate::Sample;

/// A bundle the pool serves, and what its workers share about it.
pub(crate) struct BundleEntry {
    pub bundle: Bundle,
    /// Warm-up renders (default: every component with `{}`).
    pub samples: Vec<Sample>,
    /// A failing sample refuses the bundle (a bundle added to a running
    /// pool with samples): otherwise a failing sample is only skipped.
    pub samples_must_pass: bool,
    /// Set once a worker has produced the code cache for this bundle.
    pub cache_produced: AtomicBool,
}

impl BundleEntry {
    pub fn new(bundle: Bundle, samples: Vec<Sample>, samples_must_pass: bool) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            samples,
            samples_must_pass,
            cache_produced: AtomicBool::new(false),
        })
    }
}

/// What a worker is told besides jobs.
pub(crate) enum Control {
    /// Load and warm an isolate for another bundle, then take its jobs from
    /// `jobs`; say how loading went on `loaded`.
    Add {
        entry: Arc<BundleEntry>,
        jobs: async_channel::Receiver<Job>,
        loaded: oneshot::Sender<Result<LoadReport, StartError>>,
    },
}

/// What the pool's workers share.
pub(crate) struct Shared {
    pub config: PoolConfig,
    pub observer: Arc<dyn PoolObserver>,
    /// Sends the renders' `fetch` requests; None when fetch is off.
    pub fetcher: Option<Arc<crate::fetch::Fetcher>>,
    pub code_cache: Option<Arc<dyn CodeCacheStore>>,
    pub v8_tag: u32,
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

/// One bundle's isolate on this worker, and the queue it takes jobs from.
struct Lane<'a> {
    entry: Arc<BundleEntry>,
    jobs: async_channel::Receiver<Job>,
    /// None while parked: the isolate was dropped to keep the worker within
    /// its memory budget, and is built again at the lane's next job.
    event_loop: Option<EventLoop<'a>>,
    /// The bundle's queue closed (it was removed, or the pool stops): the
    /// lane ends once its renders are done.
    closed: bool,
    /// What the isolate held when last measured, in bytes.
    footprint: usize,
    last_used: Instant,
    /// Set while the lane's isolate runs its warm-up renders (a bundle
    /// added while the worker serves others): it takes its jobs from the
    /// warm-up's queue, not the bundle's.
    warming: Option<Box<Warming>>,
}

impl<'a> Lane<'a> {
    fn new(
        entry: Arc<BundleEntry>,
        jobs: async_channel::Receiver<Job>,
        event_loop: EventLoop<'a>,
    ) -> Self {
        let mut lane = Self {
            entry,
            jobs,
            event_loop: Some(event_loop),
            closed: false,
            footprint: 0,
            last_used: Instant::now(),
            warming: None,
        };
        lane.measure();
        lane
    }

    /// Where the lane takes its jobs from now.
    fn source(&self) -> &async_channel::Receiver<Job> {
        self.warming.as_ref().map_or(&self.jobs, |w| &w.queue)
    }

    fn takes_jobs(&self) -> bool {
        !self.closed
            && self
                .event_loop
                .as_ref()
                .is_none_or(|l| l.retiring.is_none() && l.has_room())
    }

    fn in_flight(&self) -> usize {
        self.event_loop.as_ref().map_or(0, EventLoop::in_flight)
    }

    /// Updates the footprint of a live lane.
    fn measure(&mut self) {
        if let Some(event_loop) = &mut self.event_loop {
            self.footprint = event_loop.isolate.resident();
        }
    }
}

/// What woke the worker.
enum Woken {
    Lane(usize, Wake),
    /// A warm-up render of lane `.0` (sample `.1`) ended.
    WarmedOne(usize, usize, Result<(), RenderError>),
    Control(Option<Control>),
    Due,
}

pub(crate) fn run(
    id: usize,
    shared: Arc<Shared>,
    first: Arc<BundleEntry>,
    jobs: async_channel::Receiver<Job>,
    control: async_channel::Receiver<Control>,
) {
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
    let Some(isolate) = start_isolate(id, &name, &shared, &first, &runtime, true) else {
        return;
    };
    shared.observer.worker_ready(id, true);
    shared.status.send_modify(|s| s.ready += 1);
    let mut lanes = vec![Lane::new(
        first,
        jobs,
        EventLoop::new(isolate, id, &shared, &runtime),
    )];
    serve(id, &name, &shared, &runtime, &mut lanes, &control);
    shared.observer.worker_ready(id, false);
    shared.status.send_modify(|s| s.ready -= 1);
}

/// Serves every lane until all their queues have closed and their renders
/// are done. Takes jobs while a lane's isolate has room; replaces an
/// isolate that must be replaced (at once when poisoned, failing its
/// renders in flight; a worn-out one first finishes them, taking no new
/// job); adds lanes as the pool asks.
fn serve<'a>(
    id: usize,
    name: &str,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    lanes: &mut Vec<Lane<'a>>,
    control: &async_channel::Receiver<Control>,
) {
    let mut control_open = true;
    let mut since_check = 0u32;
    loop {
        shared.set_busy(id, true);
        since_check += 1;
        let check_memory = since_check >= 16;
        if check_memory {
            since_check = 0;
            report_memory(id, shared, lanes);
        }
        let mut i = 0;
        while i < lanes.len() {
            let lane = &mut lanes[i];
            if let Some(event_loop) = &mut lane.event_loop {
                event_loop.step();
                event_loop.decide_replacement(check_memory);
                if let Some(reason) = event_loop.retiring {
                    if event_loop.isolate.poisoned.is_some() {
                        event_loop.fail_all(reason);
                    }
                }
            }
            if lane.closed && lane.in_flight() == 0 {
                lanes.remove(i);
                continue;
            }
            let retiring = lane.event_loop.as_ref().and_then(|l| l.retiring);
            // A warming lane's isolate is replaced when its warm-up ends.
            if let Some(reason) = retiring.filter(|_| lane.warming.is_none()) {
                if lane.in_flight() == 0 {
                    replace(id, name, shared, runtime, lane, reason);
                }
            }
            i += 1;
        }
        if lanes.is_empty() {
            shared.set_busy(id, false);
            return;
        }
        // Something changed (a job started, a queue closed): look again
        // before sleeping.
        let mut changed = false;
        for i in 0..lanes.len() {
            if !lanes[i].takes_jobs() {
                continue;
            }
            match lanes[i].source().try_recv() {
                Ok(job) => take_job(id, name, shared, runtime, lanes, i, job),
                Err(async_channel::TryRecvError::Closed) => lanes[i].closed = true,
                Err(async_channel::TryRecvError::Empty) => continue,
            }
            changed = true;
        }
        if changed {
            continue;
        }
        shared.set_busy(id, false);
        let control = control_open.then_some(control);
        match wait_any(lanes, control, runtime) {
            Woken::Lane(i, Wake::Job(job)) => {
                shared.set_busy(id, true);
                take_job(id, name, shared, runtime, lanes, i, job);
            }
            Woken::Lane(i, Wake::Closed) => lanes[i].closed = true,
            Woken::Lane(i, wake) => {
                if let Some(event_loop) = &mut lanes[i].event_loop {
                    event_loop.handle(wake);
                }
            }
            Woken::WarmedOne(i, k, result) => {
                shared.set_busy(id, true);
                let lane = &mut lanes[i];
                let poisoned = lane
                    .event_loop
                    .as_ref()
                    .is_some_and(|l| l.retiring.is_some());
                let warming = lane.warming.as_mut().expect("a warming lane");
                warming.record(id, k, result);
                if poisoned || !warming.submit_next(runtime) {
                    end_warm_up(id, name, shared, runtime, lanes, i);
                }
            }
            Woken::Control(Some(Control::Add {
                entry,
                jobs,
                loaded,
            })) => {
                shared.set_busy(id, true);
                let Some((lane, queued)) =
                    start_warm_up(id, name, shared, runtime, entry, jobs, loaded)
                else {
                    continue;
                };
                lanes.push(lane);
                let added = lanes.len() - 1;
                if queued {
                    fit_budget(id, shared, lanes, added);
                } else {
                    // No warm-up renders to run: ready at once.
                    end_warm_up(id, name, shared, runtime, lanes, added);
                }
            }
            Woken::Control(None) => control_open = false,
            Woken::Due => {}
        }
    }
}

/// Sleeps until a lane has something to do (a job, a render's wake-up, a
/// timer or deadline), or the pool sends a control message.
fn wait_any(
    lanes: &mut [Lane],
    control: Option<&async_channel::Receiver<Control>>,
    runtime: &tokio::runtime::Runtime,
) -> Woken {
    for (i, lane) in lanes.iter_mut().enumerate() {
        if let Some(wake) = lane.event_loop.as_mut().and_then(EventLoop::ready_wake) {
            return Woken::Lane(i, wake);
        }
    }
    let until = lanes
        .iter_mut()
        .filter_map(|lane| lane.event_loop.as_mut()?.next_due())
        .min();
    runtime.block_on(async {
        let mut wakes: futures_util::stream::FuturesUnordered<_> = lanes
            .iter_mut()
            .enumerate()
            .map(|(i, lane)| {
                let take_jobs = lane.takes_jobs();
                let Lane {
                    event_loop,
                    jobs,
                    warming,
                    ..
                } = lane;
                async move {
                    match (event_loop, warming) {
                        (Some(event_loop), Some(warming)) => {
                            let Warming { queue, results, .. } = &mut **warming;
                            tokio::select! {
                                wake = event_loop.next_wake(queue, take_jobs) => Woken::Lane(i, wake),
                                Some((k, result)) = results.recv() => Woken::WarmedOne(i, k, result),
                            }
                        }
                        (Some(event_loop), None) => {
                            Woken::Lane(i, event_loop.next_wake(jobs, take_jobs).await)
                        }
                        // A parked lane only waits for its next job.
                        (None, _) => Woken::Lane(i, jobs.recv().await.map_or(Wake::Closed, Wake::Job)),
                    }
                }
            })
            .collect();
        let message = async {
            match control {
                Some(control) => control.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(woken) = futures_util::StreamExt::next(&mut wakes) => woken,
            message = message => Woken::Control(message),
            _ = crate::event_loop::sleep_until(until) => Woken::Due,
        }
    })
}

/// Replaces a lane's isolate (its renders are done or failed).
fn replace<'a>(
    id: usize,
    name: &str,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    lane: &mut Lane<'a>,
    reason: ReplaceReason,
) {
    tracing::info!(worker = id, reason = reason.as_str(), "replacing isolate");
    let Some(isolate) = start_isolate(id, name, shared, &lane.entry, runtime, false) else {
        return;
    };
    // The old isolate goes (on this thread) as its loop is replaced.
    lane.event_loop = Some(EventLoop::new(isolate, id, shared, runtime));
    lane.measure();
    shared.observer.worker_ready(id, true);
    shared.status.send_modify(|s| s.ready += 1);
}

/// Starts `job` on lane `i`, building the lane's isolate first when it was
/// parked (after parking others, if needed, to make room for it).
fn take_job<'a>(
    id: usize,
    name: &str,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    lanes: &mut [Lane<'a>],
    i: usize,
    job: Job,
) {
    if lanes[i].event_loop.is_none() {
        fit_budget(id, shared, lanes, i);
        tracing::debug!(worker = id, bundle = %lanes[i].entry.bundle.hash().short(), "rebuilding a parked isolate");
        let isolate = start_isolate(id, name, shared, &lanes[i].entry, runtime, false)
            .expect("a rebuilt isolate is retried until it loads");
        lanes[i].event_loop = Some(EventLoop::new(isolate, id, shared, runtime));
        lanes[i].measure();
    }
    let lane = &mut lanes[i];
    lane.last_used = Instant::now();
    let event_loop = lane.event_loop.as_mut().expect("built above");
    accept(id, shared, event_loop, job);
}

/// Parks the least recently used idle lanes until the worker's isolates,
/// lane `keep`'s included (at its last measured size), fit the memory
/// budget. Lane `keep` and lanes with renders in flight are never parked.
fn fit_budget(id: usize, shared: &Shared, lanes: &mut [Lane], keep: usize) {
    let Some(budget) = shared.config.worker_memory_budget() else {
        return;
    };
    loop {
        let held: usize = lanes
            .iter()
            .enumerate()
            .filter(|(j, lane)| *j == keep || lane.event_loop.is_some())
            .map(|(_, lane)| lane.footprint)
            .sum();
        if held <= budget {
            return;
        }
        let idle = lanes
            .iter()
            .enumerate()
            .filter(|(j, lane)| *j != keep && lane.event_loop.is_some() && lane.in_flight() == 0)
            .min_by_key(|(_, lane)| lane.last_used)
            .map(|(j, _)| j);
        let Some(j) = idle else {
            return;
        };
        tracing::debug!(worker = id, bundle = %lanes[j].entry.bundle.hash().short(), held, budget, "parking an idle isolate to stay within the memory budget");
        // The isolate goes here, on its own thread.
        lanes[j].event_loop = None;
        shared
            .observer
            .isolate_replaced(id, ReplaceReason::MemoryBudget);
    }
}

/// Reports what the worker's isolates hold, together.
fn report_memory(id: usize, shared: &Shared, lanes: &mut [Lane]) {
    let (mut heap, mut memory) = (0, 0);
    for lane in lanes.iter_mut() {
        lane.measure();
        if let Some(event_loop) = &mut lane.event_loop {
            heap += event_loop.isolate.heap_used();
            memory += event_loop.isolate.memory_used();
        }
    }
    shared.observer.heap_used(id, heap);
    shared.observer.isolate_memory(id, memory);
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
    entry: &BundleEntry,
    runtime: &tokio::runtime::Runtime,
    first: bool,
) -> Option<RenderIsolate> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match load(id, name, shared, entry, runtime, first) {
            Ok((isolate, _)) => return Some(isolate),
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

/// Creates an isolate for `entry`'s bundle, loads it (from the code cache
/// when there is one) and warms it up: fully the first time, with the
/// replacement warm-up when it replaces one.
fn load(
    id: usize,
    name: &str,
    shared: &Shared,
    entry: &BundleEntry,
    runtime: &tokio::runtime::Runtime,
    first: bool,
) -> Result<(RenderIsolate, LoadReport), StartError> {
    let (isolate, report, cached) = load_cold(id, name, shared, entry)?;
    let warmup = if first {
        shared.config.warmup_renders
    } else {
        shared
            .config
            .replacement_warmup_renders
            .min(shared.config.warmup_renders)
    };
    let (isolate, failure) = warm_up(id, shared, entry, runtime, isolate, &report, warmup);
    let checked = failure.filter(|_| first && entry.samples_must_pass);
    let isolate = finish_load(id, name, shared, entry, isolate, &report, cached, checked)?;
    Ok((isolate, report))
}

/// Creates an isolate for `entry`'s bundle and loads it, from the code
/// cache when there is one (returned too, for a fresh isolate if warm-up
/// poisons this one).
fn load_cold(
    id: usize,
    name: &str,
    shared: &Shared,
    entry: &BundleEntry,
) -> Result<(RenderIsolate, LoadReport, Option<Vec<u8>>), StartError> {
    let hash = entry.bundle.hash();
    let cached = shared
        .code_cache
        .as_ref()
        .and_then(|store| store.load(&hash, shared.v8_tag));
    let (isolate, report) = create(name, shared, entry, cached.as_deref())?;
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
            store.reject(&hash, shared.v8_tag);
        }
    }
    Ok((isolate, report, cached))
}

/// A new isolate with the bundle loaded and the pool's fetcher.
fn create(
    name: &str,
    shared: &Shared,
    entry: &BundleEntry,
    cached: Option<&[u8]>,
) -> Result<(RenderIsolate, LoadReport), StartError> {
    let (mut isolate, report) = RenderIsolate::new(name, &entry.bundle, &shared.config, cached)?;
    crate::runtime::state(&mut isolate.isolate).fetcher = shared.fetcher.clone();
    Ok((isolate, report))
}

/// After warm-up: refuses the bundle when a sample that must pass failed
/// (`failure`), replaces an isolate a sample poisoned, and produces the
/// code cache when the store had none.
#[allow(clippy::too_many_arguments)]
fn finish_load(
    id: usize,
    name: &str,
    shared: &Shared,
    entry: &BundleEntry,
    mut isolate: RenderIsolate,
    report: &LoadReport,
    cached: Option<Vec<u8>>,
    failure: Option<(String, RenderError)>,
) -> Result<RenderIsolate, StartError> {
    if let Some((component, error)) = failure {
        return Err(StartError::SampleFailed {
            bundle: entry.bundle.name().to_owned(),
            component,
            error: error.to_string(),
        });
    }
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
        isolate = create(name, shared, entry, cached.as_deref())?.0;
    }
    let hash = entry.bundle.hash();
    if report.cache != CacheOutcome::Hit {
        if let Some(store) = &shared.code_cache {
            if !entry.cache_produced.swap(true, Ordering::AcqRel) {
                match isolate.create_code_cache() {
                    Some(bytes) => store.store(&hash, shared.v8_tag, bytes),
                    None => tracing::warn!(worker = id, "V8 produced no code cache"),
                }
            }
        }
    }
    shared.status.send_modify(|s| {
        s.first_load.get_or_insert_with(|| report.clone());
    });
    Ok(isolate)
}

/// Loads a bundle the pool adds and starts its lane's warm-up, whose
/// renders the worker runs between its other jobs; says whether a warm-up
/// render was queued. None (with the error sent on `loaded`) when the
/// bundle does not load.
fn start_warm_up<'a>(
    id: usize,
    name: &str,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    entry: Arc<BundleEntry>,
    jobs: async_channel::Receiver<Job>,
    loaded: oneshot::Sender<Result<LoadReport, StartError>>,
) -> Option<(Lane<'a>, bool)> {
    let (isolate, report, cached) = match load_cold(id, name, shared, &entry) {
        Ok(loaded) => loaded,
        Err(error) => {
            let _ = loaded.send(Err(error));
            return None;
        }
    };
    let tally = Tally::new(&entry, &report, shared.config.warmup_renders);
    let event_loop = EventLoop::new(isolate, id, shared, runtime).uncounted();
    let mut lane = Lane::new(entry, jobs, event_loop);
    let mut warming = Warming::new(tally, report, cached, loaded);
    let queued = warming.submit_next(runtime);
    lane.warming = Some(Box::new(warming));
    Some((lane, queued))
}

/// Ends lane `i`'s warm-up: the lane serves its bundle's queue from now on
/// and the pool hears it is loaded, or the lane goes and the pool hears
/// why.
fn end_warm_up<'a>(
    id: usize,
    name: &str,
    shared: &'a Shared,
    runtime: &'a tokio::runtime::Runtime,
    lanes: &mut [Lane<'a>],
    i: usize,
) {
    let lane = &mut lanes[i];
    let (Some(warming), Some(event_loop)) = (lane.warming.take(), lane.event_loop.take()) else {
        return;
    };
    tracing::debug!(
        worker = id,
        ms = warming.elapsed().as_secs_f64() * 1e3,
        "warm-up between other jobs done"
    );
    let Warming {
        tally,
        report,
        cached,
        loaded,
        ..
    } = *warming;
    let failure = tally.first_failure.filter(|_| lane.entry.samples_must_pass);
    let finished = finish_load(
        id,
        name,
        shared,
        &lane.entry,
        event_loop.isolate,
        &report,
        cached,
        failure,
    );
    match finished {
        Ok(isolate) => {
            lane.event_loop = Some(EventLoop::new(isolate, id, shared, runtime));
            lane.measure();
            let _ = loaded.send(Ok(report));
            fit_budget(id, shared, lanes, i);
        }
        Err(error) => {
            // Nothing was routed to it: the lane just goes.
            lane.closed = true;
            let _ = loaded.send(Err(error));
        }
    }
}
