//! How a worker gets an isolate for a bundle: created, compiled (from the
//! code cache when there is one), evaluated and warmed up, at start, as a
//! replacement, or, for a bundle the pool adds, warmed between the worker's
//! other jobs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{RenderError, StartError};
use crate::isolate::{LoadReport, RenderIsolate};
use crate::job::Job;
use crate::lane::Lane;
use crate::script::CacheOutcome;
use crate::snapshot;
use crate::warmup::{warm_up, Tally, Warming};
use crate::worker::{BundleEntry, Worker};

impl<'a> Worker<'a> {
    /// Creates, loads and warms an isolate. On the first start a load failure is
    /// reported to the pool and ends the worker; later (replacement) failures are
    /// retried, since the same bundle loaded before.
    pub(crate) fn start_isolate(self, entry: &BundleEntry, first: bool) -> Option<RenderIsolate> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.load(entry, first) {
                Ok((isolate, _)) => return Some(isolate),
                Err(error) if first => {
                    tracing::error!(worker = self.id, %error, "cannot load bundle");
                    self.shared.status.send_modify(|s| {
                        s.failed.get_or_insert(error);
                    });
                    return None;
                }
                Err(error) => {
                    tracing::error!(worker = self.id, %error, "cannot replace isolate; retrying");
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
        self,
        entry: &BundleEntry,
        first: bool,
    ) -> Result<(RenderIsolate, LoadReport), StartError> {
        let (isolate, report, cached) = self.load_cold(entry)?;
        let warmup = if first {
            self.shared.config.warmup_renders
        } else {
            self.shared
                .config
                .replacement_warmup_renders
                .min(self.shared.config.warmup_renders)
        };
        let (isolate, failure) = warm_up(
            self.id,
            self.shared,
            entry,
            self.runtime,
            isolate,
            &report,
            warmup,
        );
        let checked = failure.filter(|_| first && entry.samples_must_pass);
        let isolate = self.finish_load(entry, isolate, &report, cached, checked)?;
        Ok((isolate, report))
    }

    /// Creates an isolate for `entry`'s bundle and loads it, from the code
    /// cache when there is one (returned too, for a fresh isolate if warm-up
    /// poisons this one).
    fn load_cold(
        self,
        entry: &BundleEntry,
    ) -> Result<(RenderIsolate, LoadReport, Option<Vec<u8>>), StartError> {
        let hash = entry.bundle.hash();
        // An isolate from the snapshot needs no code cache.
        let cached = match self.snapshot_of(entry) {
            Some(_) => None,
            None => self
                .shared
                .code_cache
                .as_ref()
                .and_then(|store| store.load(&hash, self.shared.v8_tag)),
        };
        let (isolate, report) = self.create(entry, cached.as_deref())?;
        self.shared
            .observer
            .bundle_compiled(self.id, report.cache, report.compile);
        tracing::debug!(
            worker = self.id,
            cache = report.cache.as_str(),
            compile_ms = report.compile.as_secs_f64() * 1e3,
            evaluate_ms = report.evaluate.as_secs_f64() * 1e3,
            "bundle loaded"
        );
        if report.cache == CacheOutcome::Rejected {
            if let Some(store) = &self.shared.code_cache {
                store.reject(&hash, self.shared.v8_tag);
            }
        }
        Ok((isolate, report, cached))
    }

    /// A new isolate with the bundle loaded and the pool's fetcher: from
    /// the bundle's snapshot when it has one that works, else compiled
    /// (consuming `cached`) and evaluated.
    fn create(
        self,
        entry: &BundleEntry,
        cached: Option<&[u8]>,
    ) -> Result<(RenderIsolate, LoadReport), StartError> {
        let config = &self.shared.config;
        let restored = self.snapshot_of(entry).and_then(|snapshot| {
            RenderIsolate::from_snapshot(self.name, &entry.bundle, config, snapshot)
                .map_err(|error| self.snapshot_failed(entry, error))
                .ok()
        });
        let (mut isolate, report) = match restored {
            Some(restored) => restored,
            None => RenderIsolate::new(self.name, &entry.bundle, config, cached)?,
        };
        crate::runtime::state(&mut isolate.isolate).fetcher = self.shared.fetcher.clone();
        Ok((isolate, report))
    }

    /// After warm-up: refuses the bundle when a sample that must pass failed
    /// (`failure`), replaces an isolate a sample poisoned, and produces the
    /// code cache when the store had none.
    fn finish_load(
        self,
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
        if let Some(reason) = isolate.needs_replacement(&self.shared.config, false) {
            // A warm-up sample poisoned the isolate (it timed out, ran out of
            // memory or tampered with builtins): serve from a fresh one, cold.
            tracing::warn!(
                worker = self.id,
                reason = reason.as_str(),
                "a warm-up render poisoned the isolate; starting a fresh one without warm-up"
            );
            drop(isolate);
            isolate = self.create(entry, cached.as_deref())?.0;
        }
        let hash = entry.bundle.hash();
        if matches!(report.cache, CacheOutcome::Miss | CacheOutcome::Rejected) {
            if let Some(store) = &self.shared.code_cache {
                if !entry.cache_produced.swap(true, Ordering::AcqRel) {
                    match isolate.create_code_cache() {
                        Some(bytes) => store.store(&hash, self.shared.v8_tag, bytes),
                        None => tracing::warn!(worker = self.id, "V8 produced no code cache"),
                    }
                }
            }
        }
        self.shared.status.send_modify(|s| {
            s.first_load.get_or_insert_with(|| report.clone());
        });
        Ok(isolate)
    }

    /// The start-up snapshot the bundle's isolates start from: the one the
    /// process installed, when it is this bundle's (see `snapshot.rs`).
    fn snapshot_of(self, entry: &BundleEntry) -> Option<&'static [u8]> {
        if !snapshot::applies(&entry.bundle, &self.shared.config)
            || entry.snapshot_failed.load(Ordering::Acquire)
        {
            return None;
        }
        snapshot::installed_for(&entry.bundle.hash())
    }

    /// An isolate could not start from the bundle's snapshot: its isolates
    /// are compiled from now on.
    fn snapshot_failed(self, entry: &BundleEntry, error: StartError) {
        tracing::warn!(
            worker = self.id,
            bundle = entry.bundle.name(),
            %error,
            "cannot start an isolate from the start-up snapshot; compiling the bundle instead"
        );
        entry.snapshot_failed.store(true, Ordering::Release);
    }

    /// Loads a bundle the pool adds and starts its lane's warm-up, whose
    /// renders the worker runs between its other jobs; says whether a warm-up
    /// render was queued. None (with the error sent on `loaded`) when the
    /// bundle does not load.
    pub(crate) fn start_warm_up(
        self,
        entry: Arc<BundleEntry>,
        jobs: async_channel::Receiver<Job>,
        loaded: oneshot::Sender<Result<LoadReport, StartError>>,
    ) -> Option<(Lane<'a>, bool)> {
        let (isolate, report, cached) = match self.load_cold(&entry) {
            Ok(loaded) => loaded,
            Err(error) => {
                let _ = loaded.send(Err(error));
                return None;
            }
        };
        let tally = Tally::new(&entry, &report, self.shared.config.warmup_renders);
        let event_loop = self.event_loop(isolate).uncounted();
        let mut lane = Lane::new(entry, jobs, event_loop);
        let mut warming = Warming::new(tally, report, cached, loaded);
        let queued = warming.submit_next(self.runtime);
        lane.warming = Some(Box::new(warming));
        Some((lane, queued))
    }

    /// Ends lane `i`'s warm-up: the lane serves its bundle's queue from now on
    /// and the pool hears it is loaded, or the lane goes and the pool hears
    /// why.
    pub(crate) fn end_warm_up(self, lanes: &mut [Lane<'a>], i: usize) {
        let lane = &mut lanes[i];
        let Some(warming) = lane.warming.take() else {
            return;
        };
        let Some(event_loop) = lane.event_loop.take() else {
            // Not reached (a warming lane is never parked); the pool must
            // hear an answer either way.
            lane.closed = true;
            let lost = StartError::Thread("the isolate warming up was dropped".into());
            let _ = warming.loaded.send(Err(lost));
            return;
        };
        tracing::debug!(
            worker = self.id,
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
        let finished = self.finish_load(&lane.entry, event_loop.isolate, &report, cached, failure);
        match finished {
            Ok(isolate) => {
                lane.event_loop = Some(self.event_loop(isolate));
                lane.measure();
                let _ = loaded.send(Ok(report));
                self.fit_budget(lanes, i);
            }
            Err(error) => {
                // Nothing was routed to it: the lane just goes.
                lane.closed = true;
                let _ = loaded.send(Err(error));
            }
        }
    }

    /// Records how warm-up render `k` of lane `i` went, and queues the next
    /// one, or ends the warm-up when it is over or poisoned the isolate.
    pub(crate) fn warmed_one(
        self,
        lanes: &mut [Lane<'a>],
        i: usize,
        k: usize,
        result: Result<(), RenderError>,
    ) {
        let lane = &mut lanes[i];
        let poisoned = lane
            .event_loop
            .as_ref()
            .is_some_and(|l| l.retiring.is_some());
        let Some(warming) = lane.warming.as_mut() else {
            return;
        };
        warming.record(self.id, k, result);
        if poisoned || !warming.submit_next(self.runtime) {
            self.end_warm_up(lanes, i);
        }
    }
}
