//! A worker thread: holds one isolate per bundle the pool serves (a lane
//! each, with its own event loop: `lane.rs`), takes jobs from each
//! bundle's shared queue, and replaces an isolate when it is poisoned or
//! worn out. How it gets isolates is in `loading.rs`; the warm-up in
//! `warmup.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;
use tokio::sync::{oneshot, watch};

use crate::config::PoolConfig;
use crate::error::{RenderError, RenderOutcome, StartError};
use crate::event_loop::{EventLoop, Start, Wake};
use crate::isolate::{LoadReport, RenderIsolate, ScavengeDue};
pub(crate) use crate::job::{Job, JobClaim};
use crate::lane::Lane;
use crate::observe::{CodeCacheStore, PoolObserver};
use crate::warmup::Warming;
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
    /// Set once an isolate could not start from the process's snapshot of
    /// this bundle: its isolates are compiled from then on.
    pub snapshot_failed: AtomicBool,
}

impl BundleEntry {
    pub fn new(bundle: Bundle, samples: Vec<Sample>, samples_must_pass: bool) -> Arc<Self> {
        Arc::new(Self {
            bundle,
            samples,
            samples_must_pass,
            cache_produced: AtomicBool::new(false),
            snapshot_failed: AtomicBool::new(false),
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
    pub fn new(
        config: PoolConfig,
        observer: Arc<dyn PoolObserver>,
        fetcher: Option<Arc<crate::fetch::Fetcher>>,
        code_cache: Option<Arc<dyn CodeCacheStore>>,
    ) -> (Self, watch::Receiver<PoolStatus>) {
        let (status, status_rx) = watch::channel(PoolStatus::default());
        let workers = config.worker_count();
        let shared = Self {
            config,
            observer,
            fetcher,
            code_cache,
            v8_tag: crate::platform::cached_data_version_tag(),
            status,
            busy_since: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        };
        (shared, status_rx)
    }

    /// What one worker outside a pool needs (taking a snapshot): no
    /// fetcher, no store, nobody watching.
    pub fn standalone(config: PoolConfig) -> Self {
        let config = PoolConfig {
            workers: 1,
            ..config
        };
        Self::new(config, Arc::new(crate::NoopObserver), None, None).0
    }

    /// Collects `isolate`'s young generation if it is due (see
    /// [`RenderIsolate::collect_young_if_due`]), and says so.
    pub fn collect_young_if_due(&self, id: usize, isolate: &mut RenderIsolate, due: ScavengeDue) {
        if isolate.collect_young_if_due(due) {
            self.observer.idle_collection(id);
        }
    }

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
    let worker = Worker {
        id,
        name: &name,
        shared: &shared,
        runtime: &runtime,
    };
    let Some(isolate) = worker.start_isolate(&first, true) else {
        return;
    };
    shared.observer.worker_ready(id, true);
    shared.status.send_modify(|s| s.ready += 1);
    let mut lanes = vec![Lane::new(first, jobs, worker.event_loop(isolate))];
    worker.serve(&mut lanes, &control);
    shared.observer.worker_ready(id, false);
    shared.status.send_modify(|s| s.ready -= 1);
}

/// A worker thread as its parts see it: its number and name, what the
/// pool's workers share, and the runtime its event loops sleep on.
#[derive(Clone, Copy)]
pub(crate) struct Worker<'a> {
    pub id: usize,
    pub name: &'a str,
    pub shared: &'a Shared,
    pub runtime: &'a tokio::runtime::Runtime,
}

impl<'a> Worker<'a> {
    /// An event loop of this worker for `isolate`.
    pub fn event_loop(self, isolate: RenderIsolate) -> EventLoop<'a> {
        EventLoop::new(isolate, self.id, self.shared, self.runtime)
    }
}

impl<'a> Worker<'a> {
    /// Serves every lane until all their queues have closed and their renders
    /// are done. Takes jobs while a lane's isolate has room; replaces an
    /// isolate that must be replaced (at once when poisoned, failing its
    /// renders in flight; a worn-out one first finishes them, taking no new
    /// job); adds lanes as the pool asks.
    fn serve(self, lanes: &mut Vec<Lane<'a>>, control: &async_channel::Receiver<Control>) {
        let mut control_open = true;
        let mut since_check = 0u32;
        loop {
            self.shared.set_busy(self.id, true);
            since_check += 1;
            let check_memory = since_check >= 16;
            if check_memory {
                since_check = 0;
                self.report_memory(lanes);
            }
            self.step_lanes(lanes, check_memory);
            if lanes.is_empty() {
                self.shared.set_busy(self.id, false);
                return;
            }
            // Something changed (a job started, a queue closed): look again
            // before sleeping.
            if self.take_queued_jobs(lanes) {
                continue;
            }
            // No job: the worker is idle, and may collect garbage now.
            self.shared.set_busy(self.id, false);
            if self.shared.config.idle_gc && self.collect_idle(lanes) {
                // An isolate reached its heap limit: replace it first.
                continue;
            }
            let control = control_open.then_some(control);
            match wait_any(lanes, control, self.runtime) {
                Woken::Control(None) => control_open = false,
                woken => self.handle(woken, lanes),
            }
        }
    }

    /// Runs what is ready in every lane; replaces isolates that must be
    /// (at once when poisoned, failing their renders in flight; a worn-out
    /// one once its renders are done); drops lanes whose queue closed once
    /// their renders are done.
    fn step_lanes(self, lanes: &mut Vec<Lane<'a>>, check_memory: bool) {
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
                    self.replace(lane, reason);
                }
            }
            i += 1;
        }
    }

    /// Takes one queued job for each lane with room; true if a lane took
    /// one or found its queue closed.
    fn take_queued_jobs(self, lanes: &mut [Lane<'a>]) -> bool {
        let mut changed = false;
        for i in 0..lanes.len() {
            if !lanes[i].takes_jobs() {
                continue;
            }
            match lanes[i].source().try_recv() {
                Ok(job) => self.take_job(lanes, i, job),
                Err(async_channel::TryRecvError::Closed) => lanes[i].closed = true,
                Err(async_channel::TryRecvError::Empty) => continue,
            }
            changed = true;
        }
        changed
    }

    /// Acts on what woke the worker.
    fn handle(self, woken: Woken, lanes: &mut Vec<Lane<'a>>) {
        match woken {
            Woken::Lane(i, Wake::Job(job)) => {
                self.shared.set_busy(self.id, true);
                self.take_job(lanes, i, job);
            }
            Woken::Lane(i, Wake::Closed) => lanes[i].closed = true,
            Woken::Lane(i, wake) => {
                if let Some(event_loop) = &mut lanes[i].event_loop {
                    event_loop.handle(wake);
                }
            }
            Woken::WarmedOne(i, k, result) => {
                self.shared.set_busy(self.id, true);
                self.warmed_one(lanes, i, k, result);
            }
            Woken::Control(Some(Control::Add {
                entry,
                jobs,
                loaded,
            })) => {
                self.shared.set_busy(self.id, true);
                if let Some((lane, queued)) = self.start_warm_up(entry, jobs, loaded) {
                    lanes.push(lane);
                    let added = lanes.len() - 1;
                    if queued {
                        self.fit_budget(lanes, added);
                    } else {
                        // No warm-up renders to run: ready at once.
                        self.end_warm_up(lanes, added);
                    }
                }
            }
            Woken::Control(None) | Woken::Due => {}
        }
    }

    /// Collects the young generation of each lane's isolate if it is due;
    /// true when that poisoned one.
    fn collect_idle(self, lanes: &mut [Lane]) -> bool {
        let mut poisoned = false;
        for lane in lanes.iter_mut() {
            if let Some(event_loop) = &mut lane.event_loop {
                let isolate = &mut event_loop.isolate;
                let was_poisoned = isolate.poisoned.is_some();
                self.shared
                    .collect_young_if_due(self.id, isolate, ScavengeDue::Idle);
                poisoned |= !was_poisoned && isolate.poisoned.is_some();
            }
        }
        poisoned
    }

    /// Starts a job unless its caller went away, gave up, or waited too long.
    pub(crate) fn accept(self, event_loop: &mut EventLoop, job: Job) {
        let config = &self.shared.config;
        if job.reply.is_closed() || !job.claim.start() {
            // The caller went away (or gave up) while the job was queued.
            self.shared
                .observer
                .render_finished(self.id, RenderOutcome::Cancelled, Duration::ZERO);
            return;
        }
        let queued = job.enqueued.elapsed();
        if queued > config.queue_timeout {
            let error = RenderError::QueueTimeout(queued);
            self.shared.observer.render_finished(
                self.id,
                RenderOutcome::Failed(error.kind()),
                Duration::ZERO,
            );
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
