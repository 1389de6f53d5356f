//! Warm-up: sample renders on a freshly loaded isolate before it takes
//! requests, so its hot functions are compiled (and land in the code cache)
//! and the first request is not served cold.
//!
//! At start, and when an isolate is replaced, the worker has nothing else
//! to serve for that bundle and runs them one after another
//! ([`warm_up`]). A worker adding a bundle while it serves others runs them
//! as jobs of the new lane instead, one at a time, so its other bundles'
//! jobs are taken between them ([`Warming`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::error::{RenderError, StartError};
use crate::event_loop::{EventLoop, Start};
use crate::isolate::{LoadReport, RenderIsolate, ScavengeDue};
use crate::job::{Job, JobClaim};
use crate::worker::{BundleEntry, Shared};
use crate::{RenderRequest, Rendered, Sample};

/// Which samples a warm-up runs and how they went. A sample that fails
/// once is not run again: warm-up must not spend its time on errors (or on
/// a hostile sample's deadline, over and over).
pub(crate) struct Tally {
    samples: Vec<Sample>,
    /// Renders to run, cycling through the samples.
    count: usize,
    /// Renders started (or skipped, for failed samples).
    next: usize,
    failed: Vec<bool>,
    failures: usize,
    /// The first failure: its sample's component and error.
    pub first_failure: Option<(String, RenderError)>,
}

impl Tally {
    /// `count` renders of `entry`'s samples, or of every component the
    /// bundle registered with `{}` when it has none.
    pub fn new(entry: &BundleEntry, report: &LoadReport, count: usize) -> Self {
        let samples: Vec<Sample> = if entry.samples.is_empty() {
            let with_empty_props = |c: &String| Sample {
                component: c.clone(),
                props: "{}".into(),
            };
            report.components.iter().map(with_empty_props).collect()
        } else {
            entry.samples.clone()
        };
        Self {
            failed: vec![false; samples.len()],
            samples,
            count,
            next: 0,
            failures: 0,
            first_failure: None,
        }
    }

    /// The next sample to render and its index, or None when warm-up is
    /// over.
    fn next_sample(&mut self) -> Option<(usize, Sample)> {
        while self.next < self.count && self.failures < self.samples.len() {
            let k = self.next % self.samples.len();
            self.next += 1;
            if !self.failed[k] {
                return Some((k, self.samples[k].clone()));
            }
        }
        None
    }

    fn record(&mut self, worker: usize, k: usize, result: Result<(), RenderError>) {
        if let Err(error) = result {
            let component = &self.samples[k].component;
            tracing::debug!(worker, %component, %error, "warm-up render failed");
            self.failed[k] = true;
            self.failures += 1;
            self.first_failure.get_or_insert((component.clone(), error));
        }
    }
}

/// A warm-up render as a job, and the task that reads its answer to the
/// end (a stream must be drained for its render to finish) and reports how
/// it went on `results`.
fn sample_job(
    runtime: &tokio::runtime::Runtime,
    k: usize,
    sample: Sample,
    results: mpsc::UnboundedSender<(usize, Result<(), RenderError>)>,
) -> Job {
    let (reply, answer) = oneshot::channel::<Result<Rendered, RenderError>>();
    runtime.spawn(async move {
        let result = match answer.await {
            Ok(Ok(rendered)) => rendered.into_html().await.map(drop),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(RenderError::WorkerLost),
        };
        let _ = results.send((k, result));
    });
    Job {
        request: RenderRequest::new(sample.component, sample.props),
        enqueued: Instant::now(),
        reply,
        claim: Arc::new(JobClaim::default()),
    }
}

/// Runs `count` warm-up renders on `isolate`, one at a time, and returns
/// it with the first failure.
pub(crate) fn warm_up(
    id: usize,
    shared: &Shared,
    entry: &BundleEntry,
    runtime: &tokio::runtime::Runtime,
    isolate: RenderIsolate,
    report: &LoadReport,
    count: usize,
) -> (RenderIsolate, Option<(String, RenderError)>) {
    let started = Instant::now();
    let mut tally = Tally::new(entry, report, count);
    let mut event_loop = EventLoop::new(isolate, id, shared, runtime).uncounted();
    // Nothing is ever sent on this queue: the renders are started here.
    let (_idle, no_jobs) = async_channel::bounded::<Job>(1);
    let (results_tx, mut results) = mpsc::unbounded_channel();
    while event_loop.isolate.poisoned.is_none() {
        let Some((k, sample)) = tally.next_sample() else {
            break;
        };
        // As between requests: left to V8, back-to-back warm-up renders
        // are scavenged mid-render, and what those scavenges promote and
        // grow stays for the isolate's life (after 200 renders of the table
        // page, 77 MB of heap against 12 MB).
        if shared.config.idle_gc {
            shared.collect_young_if_due(id, &mut event_loop.isolate, ScavengeDue::BeforeJob);
        }
        let job = sample_job(runtime, k, sample, results_tx.clone());
        event_loop.start(Start {
            component: job.request.component,
            props: job.request.props,
            headers: Vec::new(),
            timeout: shared.config.render_timeout,
            queued: Duration::ZERO,
            reply: job.reply,
            claim: job.claim,
        });
        event_loop.drain(&no_jobs);
        let (k, result) = runtime
            .block_on(results.recv())
            .unwrap_or((k, Err(RenderError::WorkerLost)));
        tally.record(id, k, result);
    }
    tracing::debug!(
        worker = id,
        renders = tally.next,
        failures = tally.failures,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "warm-up done"
    );
    (event_loop.isolate, tally.first_failure)
}

/// The warm-up of a lane added while the worker serves others: its renders
/// are queued on the lane's own queue one at a time, each once the one
/// before has been read to its end.
pub(crate) struct Warming {
    pub tally: Tally,
    /// The lane takes its jobs from here until warm-up is over.
    pub queue: async_channel::Receiver<Job>,
    queue_tx: async_channel::Sender<Job>,
    /// How each warm-up render went (sample index, result).
    pub results: mpsc::UnboundedReceiver<(usize, Result<(), RenderError>)>,
    results_tx: mpsc::UnboundedSender<(usize, Result<(), RenderError>)>,
    pub report: LoadReport,
    /// The code cache the isolate was compiled with (for a fresh isolate
    /// when a sample poisons this one).
    pub cached: Option<Vec<u8>>,
    /// Where the pool learns how adding the bundle went.
    pub loaded: oneshot::Sender<Result<LoadReport, StartError>>,
    started: Instant,
}

impl Warming {
    pub fn new(
        tally: Tally,
        report: LoadReport,
        cached: Option<Vec<u8>>,
        loaded: oneshot::Sender<Result<LoadReport, StartError>>,
    ) -> Self {
        let (queue_tx, queue) = async_channel::bounded(1);
        let (results_tx, results) = mpsc::unbounded_channel();
        Self {
            tally,
            queue,
            queue_tx,
            results,
            results_tx,
            report,
            cached,
            loaded,
            started: Instant::now(),
        }
    }

    /// Queues the next warm-up render; false when warm-up is over.
    pub fn submit_next(&mut self, runtime: &tokio::runtime::Runtime) -> bool {
        let Some((k, sample)) = self.tally.next_sample() else {
            return false;
        };
        let job = sample_job(runtime, k, sample, self.results_tx.clone());
        // The queue holds one job and is empty: the one before has ended.
        self.queue_tx.try_send(job).is_ok()
    }

    /// Records how warm-up render `k` went.
    pub fn record(&mut self, worker: usize, k: usize, result: Result<(), RenderError>) {
        self.tally.record(worker, k, result);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
