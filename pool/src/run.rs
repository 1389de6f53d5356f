//! The one bounded run into JavaScript. Every entry into an isolate (the
//! bundle's top level, a render call, a timer callback, a microtask
//! checkpoint, the integrity check) goes through [`run_bounded`]: it arms
//! the watchdog, runs a closure in the isolate's context, settles microtasks
//! when asked, and classifies how it ended in one ordered chain.

use std::time::{Duration, Instant};

use crate::error::JsError;
use crate::exception::caught;
use crate::limits::IsolateAllocations;

/// The time limits of one entry into JavaScript.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// When the work this entry belongs to is due: an entry that returns
    /// later is `DeadlinePassed`. None when the caller tracks deadlines
    /// itself (the event loop, whose renders each have their own).
    deadline: Option<Instant>,
    /// When the watchdog terminates execution: JavaScript that still holds
    /// the CPU then will not yield.
    cpu_limit: Instant,
}

impl Budget {
    /// Due at `deadline`; JavaScript may keep the CPU `grace` past it.
    pub fn new(deadline: Instant, grace: Duration) -> Self {
        Self {
            deadline: Some(deadline),
            cpu_limit: deadline + grace,
        }
    }

    /// Only a CPU limit: the entry may return whenever it is done.
    pub fn cpu(limit: Instant) -> Self {
        Self {
            deadline: None,
            cpu_limit: limit,
        }
    }

    fn passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Whether to run a microtask checkpoint after the closure returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    Nothing,
    Microtasks,
}

/// How one entry into JavaScript ended.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    Done(T),
    /// The isolate reached its heap limit; execution was terminated and the
    /// isolate must not be used again.
    HeapLimit,
    /// The watchdog terminated execution: JavaScript held the CPU past the
    /// deadline plus the grace period. The isolate must not be used again.
    Terminated,
    /// The entry returned, but after the deadline.
    DeadlinePassed,
    /// The closure threw (or reported failure without an exception).
    Threw(JsError),
}

/// Runs `f` in `context`, bounded by `budget`. `f` returns None when it
/// threw; the exception is then read (bounded) from the TryCatch. A
/// terminated execution is cancelled before returning, so the isolate can be
/// torn down cleanly.
pub(crate) fn run_bounded<T>(
    isolate: &mut v8::Isolate,
    context: &v8::Global<v8::Context>,
    allocations: &mut IsolateAllocations,
    budget: Budget,
    settle: Settle,
    f: impl FnOnce(&mut v8::PinScope) -> Option<T>,
) -> Outcome<T> {
    crate::isolate::entered(isolate, |isolate| {
        run_entered(isolate, context, allocations, budget, settle, f)
    })
}

fn run_entered<T>(
    isolate: &mut v8::Isolate,
    context: &v8::Global<v8::Context>,
    allocations: &mut IsolateAllocations,
    budget: Budget,
    settle: Settle,
    f: impl FnOnce(&mut v8::PinScope) -> Option<T>,
) -> Outcome<T> {
    v8::scope_with_context!(scope, isolate, context);
    v8::tc_scope!(let tc, scope);
    allocations.watchdog.arm(budget.cpu_limit);
    let result = f(tc);
    if settle == Settle::Microtasks && !tc.has_terminated() {
        tc.perform_microtask_checkpoint();
    }
    let fired = allocations.watchdog.disarm();
    let terminated = fired || tc.has_terminated() || tc.is_execution_terminating();
    if terminated {
        tc.cancel_terminate_execution();
    }
    if allocations.heap.hit() {
        return Outcome::HeapLimit;
    }
    if terminated {
        return Outcome::Terminated;
    }
    if budget.passed() {
        return Outcome::DeadlinePassed;
    }
    match result {
        Some(value) => Outcome::Done(value),
        None => {
            let exception = tc.exception();
            Outcome::Threw(caught(
                tc,
                exception,
                "JavaScript failed without an exception",
            ))
        }
    }
}
