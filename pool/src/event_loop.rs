//! The event loop of one isolate: many renders in flight, each a small
//! state machine ([`Render`]), driven by what is ready: a new job, a timer, a
//! deadline, room in a stream's sink, a caller leaving. Every entry into
//! JavaScript is one bounded run; CPU-bound JavaScript still runs one render
//! at a time, as in Node, but a render waiting on a timer or a promise holds
//! no CPU, and the isolate takes other jobs meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{AbortHandle, Abortable, LocalBoxFuture};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::error::{RenderError, RenderOutcome, ReplaceReason};
use crate::fetch::FetchResult;
use crate::isolate::RenderIsolate;
use crate::render::{self, Called, Render, Reply};
use crate::run::{Budget, Outcome, Settle};
use crate::runtime::{self, Output};
use crate::sink::{RenderBody, StreamSink};
use crate::worker::{JobClaim, Shared};
use crate::RenderId;

/// Why the loop woke up.
pub(crate) enum Wake {
    Job(crate::worker::Job),
    /// The job queue closed.
    Closed,
    /// A timer or a deadline is due.
    Due,
    /// A stream's channel has room again.
    Room(RenderId),
    /// The caller went away.
    CallerGone(RenderId),
    /// A fetch of the render settled.
    Fetched(RenderId, u32, FetchResult),
}

/// Where a render comes from: a caller's job, or a warm-up sample.
pub(crate) struct Start {
    pub component: String,
    pub props: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub queued: Duration,
    pub reply: Reply,
    pub claim: Arc<JobClaim>,
}

/// An isolate with its renders in flight.
pub(crate) struct EventLoop<'a> {
    pub isolate: RenderIsolate,
    worker: usize,
    shared: &'a Shared,
    renders: HashMap<RenderId, Render>,
    /// Each yields its wake-up, or None when aborted (its render ended).
    wakers: FuturesUnordered<LocalBoxFuture<'static, Option<Wake>>>,
    /// Abort handles of each render's pending wake-ups.
    waker_handles: HashMap<RenderId, Vec<AbortHandle>>,
    /// Wake-ups that fired while aborted ones were being dropped; `wait`
    /// hands these out first.
    woken: std::collections::VecDeque<Wake>,
    next_id: RenderId,
    max_in_flight: usize,
    /// Set once the isolate is retired: it takes no new job, and is
    /// replaced when its renders are done (at once when poisoned).
    pub retiring: Option<ReplaceReason>,
    /// The worker counts as ready while this loop runs (not during warm-up):
    /// retiring the isolate updates the pool's status, and renders are
    /// reported to the observer.
    counted: bool,
    runtime: &'a tokio::runtime::Runtime,
}

impl<'a> EventLoop<'a> {
    pub fn new(
        isolate: RenderIsolate,
        worker: usize,
        shared: &'a Shared,
        runtime: &'a tokio::runtime::Runtime,
    ) -> Self {
        // A fresh context per render leaves no room for a second one.
        let max_in_flight = if shared.config.fresh_context {
            1
        } else {
            shared.config.max_renders_in_flight.max(1)
        };
        Self {
            isolate,
            worker,
            shared,
            renders: HashMap::new(),
            wakers: FuturesUnordered::new(),
            waker_handles: HashMap::new(),
            woken: Default::default(),
            next_id: 0,
            max_in_flight,
            retiring: None,
            counted: true,
            runtime,
        }
    }

    /// A loop for warm-up renders, before the worker counts as ready.
    pub fn uncounted(mut self) -> Self {
        self.counted = false;
        self
    }

    pub fn in_flight(&self) -> usize {
        self.renders.len()
    }

    pub fn has_room(&self) -> bool {
        self.renders.len() < self.max_in_flight
    }

    /// The CPU limit of the next entry into JavaScript: the earliest due
    /// render (or now) plus the grace.
    fn budget(&self) -> Budget {
        let grace = self.isolate.limits.grace;
        let now = Instant::now();
        let earliest = self
            .renders
            .values()
            .map(|r| r.due(grace))
            .min()
            .map_or(now, |due| due.max(now));
        Budget::cpu(earliest + grace)
    }

    /// One bounded run; a heap limit or termination poisons the isolate.
    fn run<T>(
        &mut self,
        settle: Settle,
        f: impl FnOnce(&mut v8::PinScope, &crate::isolate::ContextHandles) -> Option<T>,
    ) -> Outcome<T> {
        let budget = self.budget();
        let outcome = self.isolate.run(budget, settle, f);
        self.watch_fetches();
        match outcome {
            Outcome::HeapLimit => self.isolate.poisoned = Some(ReplaceReason::HeapLimit),
            Outcome::Terminated => self.isolate.poisoned = Some(ReplaceReason::Terminated),
            _ => {}
        }
        outcome
    }

    /// Starts a render: calls its component. A string answers at once;
    /// anything else stays in flight.
    pub fn start(&mut self, start: Start) {
        if self.isolate.limits.fresh_context && self.isolate.context_used {
            // Strict isolation: every render gets a context of its own with
            // the bundle evaluated anew (from the compiled script).
            if let Err(error) = self.isolate.instantiate() {
                self.isolate.poisoned = Some(ReplaceReason::FreshContextFailed);
                tracing::error!(%error, "cannot create a fresh context");
                let _ = start.reply.send(Err(RenderError::WorkerLost));
                return;
            }
        }
        self.isolate.context_used = true;
        self.isolate.renders += 1;
        self.next_id += 1;
        let id = self.next_id;
        let now = Instant::now();
        self.renders.insert(
            id,
            Render {
                id,
                component: start.component.clone(),
                reply: Some(start.reply),
                started: now,
                queued: start.queued,
                timeout: start.timeout,
                deadline: now + start.timeout,
                aborted: false,
                sink: None,
                ended: false,
            },
        );
        runtime::state(&mut self.isolate.isolate)
            .components_in_flight
            .insert(id, start.component.clone());
        let max_output = self.isolate.limits.max_output_bytes;
        let (component, props, headers) = (start.component, start.props, start.headers);
        let called = self.run(Settle::Microtasks, |scope, handles| {
            let call = render::Call {
                id,
                component: &component,
                props_json: &props,
                headers: &headers,
                max_output,
            };
            Some(render::call_component(scope, handles, call))
        });
        let late = Instant::now() > now + start.timeout;
        match called {
            // Finished, but past its deadline: the caller asked for none
            // later (the isolate is fine: it yielded within the grace).
            Outcome::Done(Ok(Called::Html(_))) if late => {
                self.finish(id, Err(RenderError::Timeout(start.timeout)))
            }
            Outcome::Done(Ok(Called::Html(html))) => self.finish(id, Ok(RenderBody::Html(html))),
            Outcome::Done(Ok(Called::InFlight)) => {
                let claim = start.claim;
                self.wake_on(id, async move {
                    claim.left().await;
                    Wake::CallerGone(id)
                });
                self.take_outputs();
            }
            Outcome::Done(Err(error)) => self.finish(id, Err(error)),
            // Poisoned: the caller fails all renders.
            Outcome::HeapLimit | Outcome::Terminated => {}
            Outcome::Threw(error) => self.finish(id, Err(RenderError::Js(error))),
            Outcome::DeadlinePassed => self.finish(id, Err(RenderError::Timeout(start.timeout))),
        }
    }

    /// Registers a wake-up for render `id`, dropped when the render ends.
    fn wake_on(&mut self, id: RenderId, future: impl std::future::Future<Output = Wake> + 'static) {
        let (handle, registration) = AbortHandle::new_pair();
        self.waker_handles.entry(id).or_default().push(handle);
        let future = Abortable::new(future, registration).map(|woken| woken.ok());
        self.wakers.push(future.boxed_local());
    }

    /// Drops aborted wake-ups now: one waiting for room holds a sender of
    /// the render's stream, and its reader sees the end only once every
    /// sender is gone. Wake-ups that fired meanwhile are kept for `wait`.
    fn drop_aborted_wakers(&mut self) {
        while let Some(Some(woken)) = self.wakers.next().now_or_never() {
            if let Some(woken) = woken {
                self.woken.push_back(woken);
            }
        }
    }

    /// Handles what renders reported during the last runs, resuming stream
    /// pumps whose sinks drained, until nothing is left.
    fn take_outputs(&mut self) {
        loop {
            let outputs = std::mem::take(&mut runtime::state(&mut self.isolate.isolate).outputs);
            if outputs.is_empty() {
                return;
            }
            for (id, output) in join_chunks(outputs) {
                self.on_output(id, output);
            }
        }
    }

    /// Waits on the fetches renders started during the last run.
    fn watch_fetches(&mut self) {
        let started =
            std::mem::take(&mut runtime::state(&mut self.isolate.isolate).fetches.started);
        for (id, fetch, settled) in started {
            self.wake_on(id, async move {
                let result = settled
                    .await
                    .unwrap_or_else(|_| Err("fetch failed: the service is stopping".to_owned()));
                Wake::Fetched(id, fetch, result)
            });
        }
    }

    /// Hands a settled fetch to its render (unless it was aborted since).
    fn on_fetched(&mut self, id: RenderId, fetch: u32, mut result: FetchResult) {
        let fetches = &mut runtime::state(&mut self.isolate.isolate).fetches;
        if fetches.settled(fetch).is_none() || !self.renders.contains_key(&id) {
            return;
        }
        // The body waits in the table until the prelude copies it.
        let mut body_len = 0;
        if let Ok(response) = &mut result {
            body_len = response.body.len();
            fetches.keep_body(fetch, std::mem::take(&mut response.body));
        }
        self.run(Settle::Microtasks, |scope, handles| {
            render::fetch_settled(scope, handles, id, fetch, &result, body_len)
        });
        runtime::state(&mut self.isolate.isolate)
            .fetches
            .take_body(fetch);
        self.take_outputs();
    }

    fn on_output(&mut self, id: RenderId, output: Output) {
        let Some(render) = self.renders.get_mut(&id) else {
            return;
        };
        match output {
            Output::Html(result) => self.finish(id, result.map(RenderBody::Html)),
            Output::Failed(error) => {
                // A render aborted at its deadline before its first byte
                // rejects with the abort: that is a timeout.
                let error = if render.aborted || render.due(Duration::ZERO) <= Instant::now() {
                    RenderError::Timeout(render.timeout)
                } else {
                    RenderError::Js(error)
                };
                self.finish(id, Err(error));
            }
            Output::Chunk(bytes) => self.on_chunk(id, bytes),
            Output::End => {
                render.ended = true;
                match &render.sink {
                    None => self.finish(id, Ok(RenderBody::Html(String::new()))),
                    Some(sink) if sink.backlog() == 0 => self.finish_stream(id),
                    Some(_) => {}
                }
            }
        }
    }

    fn on_chunk(&mut self, id: RenderId, chunk: Vec<u8>) {
        let limit = self.isolate.limits.max_output_bytes;
        let (worker, bundle) = (self.worker, self.isolate.bundle().hash());
        let Some(render) = self.renders.get_mut(&id) else {
            return;
        };
        if render.sink.is_none() {
            let (sink, stream) = StreamSink::new();
            render.sink = Some(sink);
            if let Some(reply) = render.reply.take() {
                let answer = render::rendered(render, RenderBody::Stream(stream), worker, bundle);
                let _ = reply.send(Ok(answer));
            }
        }
        let sink = render.sink.as_mut().expect("set above");
        let size = sink.produced + chunk.len();
        if size > limit {
            self.cancel(
                id,
                "output limit",
                Err(RenderError::OutputTooLarge { size, limit }),
            );
            return;
        }
        sink.push(Bytes::from(chunk));
        self.sync_backlog(id);
    }

    /// Tells the prelude how many chunks wait for the sink; waits for room
    /// while any do, and resumes a paused pump once none do.
    fn sync_backlog(&mut self, id: RenderId) {
        let Some(render) = self.renders.get_mut(&id) else {
            return;
        };
        let Some(sink) = render.sink.as_mut() else {
            return;
        };
        if sink.is_closed() {
            self.cancel(id, "caller gone", Ok(()));
            return;
        }
        let backlog = sink.backlog();
        let ended = render.ended;
        let state = runtime::state(&mut self.isolate.isolate);
        state.backlog.insert(id, backlog);
        if backlog > 0 {
            if !sink.awaiting_room {
                sink.awaiting_room = true;
                let sender = sink.sender();
                self.wake_on(id, async move {
                    match sender.reserve().await {
                        Ok(_) => Wake::Room(id),
                        Err(_) => Wake::CallerGone(id),
                    }
                });
            }
            return;
        }
        if ended {
            self.finish_stream(id);
        } else if state.paused.remove(&id) {
            self.run(Settle::Microtasks, |scope, handles| {
                render::demand(scope, handles, id)
            });
        }
    }

    fn on_room(&mut self, id: RenderId) {
        if let Some(sink) = self.renders.get_mut(&id).and_then(|r| r.sink.as_mut()) {
            sink.awaiting_room = false;
            sink.flush();
            self.sync_backlog(id);
            self.take_outputs();
        }
    }

    /// The caller left (or a stream's reader did): abort and drop the
    /// render, freeing its slot.
    fn on_caller_gone(&mut self, id: RenderId) {
        if self.renders.contains_key(&id) {
            self.cancel(id, "the caller went away", Ok(()));
            self.take_outputs();
        }
    }

    /// Aborts the render's signal and stream, then finishes it with `result`
    /// (`Ok(())`: nobody is listening any more).
    fn cancel(&mut self, id: RenderId, reason: &str, result: Result<(), RenderError>) {
        self.run(Settle::Microtasks, |scope, handles| {
            render::abort(scope, handles, id, reason, true)
        });
        match result {
            Ok(()) => {
                self.end(id, RenderOutcome::Cancelled);
            }
            Err(error) => self.finish(id, Err(error)),
        }
    }

    /// Fires the signals of renders at their deadline: a render still
    /// without output fails (`Timeout`); a stream gets the grace to finish
    /// with the fallbacks React writes for what is not ready, and is cut
    /// off after that.
    pub fn enforce_deadlines(&mut self) {
        let now = Instant::now();
        let grace = self.isolate.limits.grace;
        let due: Vec<RenderId> = self
            .renders
            .values()
            .filter(|r| r.due(grace) <= now)
            .map(|r| r.id)
            .collect();
        for id in due {
            let Some(render) = self.renders.get_mut(&id) else {
                continue;
            };
            let timeout = render.timeout;
            if render.sink.is_some() && !render.aborted {
                render.aborted = true;
                self.run(Settle::Microtasks, |scope, handles| {
                    render::abort(scope, handles, id, "the render reached its deadline", false)
                });
                self.take_outputs();
            } else {
                self.cancel(
                    id,
                    "the render reached its deadline",
                    Err(RenderError::Timeout(timeout)),
                );
            }
        }
    }

    /// Fires the timers that were due when the pass began, each in its own
    /// bounded run (timers they set wait for the next pass, after deadlines
    /// were looked at).
    pub fn fire_due_timers(&mut self) {
        let now = Instant::now();
        while self.isolate.poisoned.is_none() {
            let Some((timer, owner)) = runtime::state(&mut self.isolate.isolate)
                .timers
                .pop_due(now)
            else {
                return;
            };
            let fired = self.run(Settle::Microtasks, |scope, handles| {
                render::fire_timer(scope, handles, timer, owner)
            });
            if let Outcome::Threw(error) = fired {
                let error = error.mapped(self.isolate.bundle());
                // Like a browser, an exception in a timer is reported and
                // does not stop the event loop.
                tracing::warn!(target: "ssr::console", %error, "uncaught exception in a timer callback");
            }
            self.take_outputs();
        }
    }

    /// Fails renders that can never settle: nothing they own is pending (no
    /// timer, no stream waiting for room) and no microtask is left.
    pub fn fail_stalled(&mut self) {
        let state = runtime::state(&mut self.isolate.isolate);
        let stalled: Vec<RenderId> = self
            .renders
            .values()
            .filter(|r| {
                !state.timers.owns(r.id)
                    && !state.fetches.owns(r.id)
                    && !state.paused.contains(&r.id)
                    && r.sink.as_ref().is_none_or(|s| s.backlog() == 0)
                    && !r.ended
            })
            .map(|r| r.id)
            .collect();
        for id in stalled {
            self.cancel(
                id,
                "the render can never settle",
                Err(RenderError::NeverSettled),
            );
        }
    }

    /// When the loop must wake up at the latest: the next timer or deadline.
    pub fn next_due(&mut self) -> Option<Instant> {
        let grace = self.isolate.limits.grace;
        let timer = runtime::state(&mut self.isolate.isolate).timers.next_due();
        let deadline = self.renders.values().map(|r| r.due(grace)).min();
        match (timer, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What is ready without waiting: a wake-up handed out before, or a
    /// timer or deadline that is due.
    pub fn ready_wake(&mut self) -> Option<Wake> {
        if let Some(woken) = self.woken.pop_front() {
            return Some(woken);
        }
        let now = Instant::now();
        self.next_due().filter(|due| *due <= now).map(|_| Wake::Due)
    }

    /// Resolves with the next wake-up of a render, or a job from `jobs`
    /// (when `take_jobs`); pends when there can be neither. Cancel-safe:
    /// dropped before it resolves, it loses nothing.
    pub async fn next_wake(
        &mut self,
        jobs: &async_channel::Receiver<crate::worker::Job>,
        take_jobs: bool,
    ) -> Wake {
        let wakers = &mut self.wakers;
        loop {
            tokio::select! {
                biased;
                Some(woken) = wakers.next(), if !wakers.is_empty() => match woken {
                    Some(wake) => return wake,
                    // A wake-up of a render that already finished.
                    None => continue,
                },
                job = jobs.recv(), if take_jobs => return match job {
                    Ok(job) => Wake::Job(job),
                    Err(_) => Wake::Closed,
                },
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Sleeps until something is ready: a job (when `take_jobs`), a
    /// render's wake-up, or the next timer or deadline.
    fn wait(
        &mut self,
        jobs: &async_channel::Receiver<crate::worker::Job>,
        take_jobs: bool,
    ) -> Wake {
        if let Some(wake) = self.ready_wake() {
            return wake;
        }
        let until = self.next_due();
        let runtime = self.runtime;
        runtime.block_on(async {
            tokio::select! {
                wake = self.next_wake(jobs, take_jobs) => wake,
                _ = sleep_until(until) => Wake::Due,
            }
        })
    }

    /// Finishes a stream whose every chunk is in its sink.
    fn finish_stream(&mut self, id: RenderId) {
        let aborted = self.renders.get(&id).is_some_and(|r| r.aborted);
        let outcome = if aborted {
            RenderOutcome::AbortedAtDeadline
        } else {
            RenderOutcome::Ok
        };
        self.end(id, outcome);
    }

    /// Finishes a render with its first (and only) answer, or with an error
    /// after its first byte. The render is cleaned up (and the isolate's
    /// replacement decided) before the answer goes out, so whoever sees the
    /// answer also sees the worker as not ready while it is replaced.
    pub fn finish(&mut self, id: RenderId, result: Result<RenderBody, RenderError>) {
        // Only a failed render pays for the source map.
        let result = result.map_err(|error| match error {
            RenderError::Js(js) => RenderError::Js(js.mapped(self.isolate.bundle())),
            other => other,
        });
        let outcome = match &result {
            Ok(_) => RenderOutcome::Ok,
            Err(e) => RenderOutcome::Failed(e.kind()),
        };
        let Some(mut render) = self.end(id, outcome) else {
            return;
        };
        match (render.reply.take(), result) {
            (Some(reply), result) => {
                let bundle = self.isolate.bundle().hash();
                let answer =
                    result.map(|body| render::rendered(&render, body, self.worker, bundle));
                let _ = reply.send(answer);
            }
            (None, Ok(_)) => {}
            (None, Err(error)) => {
                if let Some(sink) = render.sink.take() {
                    sink.fail(error);
                }
            }
        }
    }

    /// Removes a render: its wake-ups, its timers, its state in the prelude;
    /// reports it; checks the shared intrinsics and whether the isolate must
    /// be replaced. A stream that ended well is marked complete.
    fn end(&mut self, id: RenderId, outcome: RenderOutcome) -> Option<Render> {
        let mut render = self.renders.remove(&id)?;
        if self.counted {
            // Warm-up renders are not requests. Counted before the stream
            // completes: a caller that saw its end finds it in the metrics.
            self.shared
                .observer
                .render_finished(self.worker, outcome, render.started.elapsed());
        }
        if outcome == RenderOutcome::Ok || outcome == RenderOutcome::AbortedAtDeadline {
            if let Some(sink) = render.sink.take() {
                sink.complete();
            }
        }
        for handle in self.waker_handles.remove(&id).unwrap_or_default() {
            handle.abort();
        }
        self.drop_aborted_wakers();
        let state = runtime::state(&mut self.isolate.isolate);
        let timers = state.timers.drop_owner(id);
        let fetches = state.fetches.drop_owner(id);
        state.forget(id);
        self.isolate
            .end_render(&render.component, |scope, handles| {
                render::forget(scope, handles, id, &timers, &fetches)
            });
        self.decide_replacement(false);
        Some(render)
    }

    /// Retires the isolate (not ready, counted) when it is poisoned or worn
    /// out; `check_memory` also measures what it holds.
    pub fn decide_replacement(&mut self, check_memory: bool) {
        if self.retiring.is_some() {
            return;
        }
        if let Some(reason) = self
            .isolate
            .needs_replacement(&self.shared.config, check_memory)
        {
            self.retiring = Some(reason);
            if !self.counted {
                return;
            }
            let (shared, worker) = (self.shared, self.worker);
            shared.observer.worker_ready(worker, false);
            shared.status.send_modify(|s| {
                s.ready -= 1;
                s.replaced += 1;
            });
            shared.observer.isolate_replaced(worker, reason);
        }
    }

    /// Fails every render in flight (the isolate is being replaced).
    pub fn fail_all(&mut self, reason: ReplaceReason) {
        let ids: Vec<RenderId> = self.renders.keys().copied().collect();
        for id in ids {
            let timeout = self.renders[&id].timeout;
            let error = match reason {
                ReplaceReason::HeapLimit => RenderError::OutOfMemory {
                    limit_mb: self.isolate.limits.heap_limit_mb,
                },
                ReplaceReason::Terminated => RenderError::Timeout(timeout),
                _ => RenderError::WorkerLost,
            };
            self.finish(id, Err(error));
        }
    }

    /// Drives the renders in flight, taking no new job, until none is left.
    pub fn drain(&mut self, jobs: &async_channel::Receiver<crate::worker::Job>) {
        self.drive(jobs);
        if let Some(reason) = self.isolate.poisoned {
            self.decide_replacement(false);
            self.fail_all(reason);
        }
    }

    fn drive(&mut self, jobs: &async_channel::Receiver<crate::worker::Job>) {
        while !self.renders.is_empty() && self.isolate.poisoned.is_none() {
            self.step();
            if self.renders.is_empty() || self.isolate.poisoned.is_some() {
                break;
            }
            let wake = self.wait(jobs, false);
            self.handle(wake);
        }
    }

    /// Runs what is ready without waiting: deadlines, due timers, renders
    /// that can no longer settle.
    pub fn step(&mut self) {
        self.enforce_deadlines();
        self.fire_due_timers();
        if self.isolate.poisoned.is_none() {
            self.fail_stalled();
        }
    }

    /// Acts on a render's wake-up (jobs and a closed queue are the
    /// worker's to handle).
    pub fn handle(&mut self, wake: Wake) {
        match wake {
            Wake::Room(id) => self.on_room(id),
            Wake::CallerGone(id) => self.on_caller_gone(id),
            Wake::Fetched(id, fetch, result) => self.on_fetched(id, fetch, result),
            Wake::Due | Wake::Job(_) | Wake::Closed => {}
        }
    }
}

/// Joins the chunks a render emitted one after another in the same run into
/// one: React fills several buffers per flush, and the reader (and the
/// client's socket) then wakes once per flush instead of once per buffer.
fn join_chunks(outputs: Vec<(RenderId, Output)>) -> Vec<(RenderId, Output)> {
    let mut joined: Vec<(RenderId, Output)> = Vec::with_capacity(outputs.len());
    for (id, output) in outputs {
        if let (Some((last_id, Output::Chunk(last))), Output::Chunk(bytes)) =
            (joined.last_mut(), &output)
        {
            if *last_id == id {
                last.extend_from_slice(bytes);
                continue;
            }
        }
        joined.push((id, output));
    }
    joined
}

pub(crate) async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
