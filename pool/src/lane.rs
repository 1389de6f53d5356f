//! A worker's lane: one bundle's isolate, its event loop and the queue it
//! takes jobs from; and what the worker does with its lanes (jobs for a
//! parked isolate, replacement, the memory budget).

use std::sync::Arc;
use std::time::Instant;

use crate::error::ReplaceReason;
use crate::event_loop::EventLoop;
use crate::isolate::ScavengeDue;
use crate::job::Job;
use crate::warmup::Warming;
use crate::worker::{BundleEntry, Worker};

/// One bundle's isolate on this worker, and the queue it takes jobs from.
pub(crate) struct Lane<'a> {
    pub entry: Arc<BundleEntry>,
    pub jobs: async_channel::Receiver<Job>,
    /// None while parked: the isolate was dropped to keep the worker within
    /// its memory budget, and is built again at the lane's next job.
    pub event_loop: Option<EventLoop<'a>>,
    /// The bundle's queue closed (it was removed, or the pool stops): the
    /// lane ends once its renders are done.
    pub closed: bool,
    /// What the isolate held when last measured, in bytes.
    pub footprint: usize,
    pub last_used: Instant,
    /// Set while the lane's isolate runs its warm-up renders (a bundle
    /// added while the worker serves others): it takes its jobs from the
    /// warm-up's queue, not the bundle's.
    pub warming: Option<Box<Warming>>,
}

impl<'a> Lane<'a> {
    pub fn new(
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
    pub fn source(&self) -> &async_channel::Receiver<Job> {
        self.warming.as_ref().map_or(&self.jobs, |w| &w.queue)
    }

    pub fn takes_jobs(&self) -> bool {
        !self.closed
            && self
                .event_loop
                .as_ref()
                .is_none_or(|l| l.retiring.is_none() && l.has_room())
    }

    pub fn in_flight(&self) -> usize {
        self.event_loop.as_ref().map_or(0, EventLoop::in_flight)
    }

    /// Updates the footprint of a live lane.
    pub fn measure(&mut self) {
        if let Some(event_loop) = &mut self.event_loop {
            self.footprint = event_loop.isolate.resident();
        }
    }
}

impl<'a> Worker<'a> {
    /// Starts `job` on lane `i`, building the lane's isolate first when it was
    /// parked (after parking others, if needed, to make room for it).
    pub(crate) fn take_job(self, lanes: &mut [Lane<'a>], i: usize, job: Job) {
        if lanes[i].event_loop.is_none() {
            self.fit_budget(lanes, i);
            tracing::debug!(worker = self.id, bundle = %lanes[i].entry.bundle.hash().short(), "rebuilding a parked isolate");
            let isolate = self
                .start_isolate(&lanes[i].entry, false)
                .expect("a rebuilt isolate is retried until it loads");
            lanes[i].event_loop = Some(self.event_loop(isolate));
            lanes[i].measure();
        }
        let lane = &mut lanes[i];
        lane.last_used = Instant::now();
        let event_loop = lane.event_loop.as_mut().expect("built above");
        if self.shared.config.idle_gc && event_loop.in_flight() == 0 {
            // Between two renders: under a full queue the worker is never
            // idle, and this is where the young generation is collected
            // with nothing in it alive.
            self.shared.collect_young_if_due(
                self.id,
                &mut event_loop.isolate,
                ScavengeDue::BeforeJob,
            );
        }
        self.accept(event_loop, job);
    }

    /// Replaces a lane's isolate (its renders are done or failed).
    pub(crate) fn replace(self, lane: &mut Lane<'a>, reason: ReplaceReason) {
        tracing::info!(
            worker = self.id,
            reason = reason.as_str(),
            "replacing isolate"
        );
        let Some(isolate) = self.start_isolate(&lane.entry, false) else {
            return;
        };
        // The old isolate goes (on this thread) as its loop is replaced.
        lane.event_loop = Some(self.event_loop(isolate));
        lane.measure();
        self.shared.observer.worker_ready(self.id, true);
        self.shared.status.send_modify(|s| s.ready += 1);
    }

    /// Parks the least recently used idle lanes until the worker's isolates,
    /// lane `keep`'s included (at its last measured size), fit the memory
    /// budget. Lane `keep`, lanes with renders in flight and lanes still
    /// warming up are never parked.
    pub(crate) fn fit_budget(self, lanes: &mut [Lane<'a>], keep: usize) {
        let Some(budget) = self.shared.config.worker_memory_budget() else {
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
                .filter(|(j, lane)| {
                    *j != keep
                        && lane.event_loop.is_some()
                        && lane.warming.is_none()
                        && lane.in_flight() == 0
                })
                .min_by_key(|(_, lane)| lane.last_used)
                .map(|(j, _)| j);
            let Some(j) = idle else {
                return;
            };
            tracing::debug!(worker = self.id, bundle = %lanes[j].entry.bundle.hash().short(), held, budget, "parking an idle isolate to stay within the memory budget");
            // The isolate goes here, on its own thread.
            lanes[j].event_loop = None;
            self.shared
                .observer
                .isolate_replaced(self.id, ReplaceReason::MemoryBudget);
        }
    }

    /// Reports what the worker's isolates hold, together.
    pub(crate) fn report_memory(self, lanes: &mut [Lane<'a>]) {
        let (mut heap, mut memory) = (0, 0);
        for lane in lanes.iter_mut() {
            lane.measure();
            if let Some(event_loop) = &mut lane.event_loop {
                heap += event_loop.isolate.heap_used();
                memory += event_loop.isolate.memory_used();
            }
        }
        self.shared.observer.heap_used(self.id, heap);
        self.shared.observer.isolate_memory(self.id, memory);
    }
}
