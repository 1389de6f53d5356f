//! One render on a [`RenderIsolate`]: call the component, settle its
//! promise (microtasks, then timers in due order) within the deadline, check
//! the output, and check the shared intrinsics afterwards. Every step is one
//! bounded run into JavaScript.

use std::time::{Duration, Instant};

use crate::error::{RenderError, ReplaceReason};
use crate::exception::{caught, js_error};
use crate::isolate::{ContextHandles, RenderIsolate};
use crate::run::{Budget, Outcome, Settle};
use crate::runtime;

/// What calling a component gave back.
enum Called {
    Html(String),
    Pending(v8::Global<v8::Promise>),
}

/// A render promise's state, read after its microtasks ran.
enum Settled {
    Pending,
    Done(Result<String, RenderError>),
}

impl RenderIsolate {
    /// Renders `component` with `props_json`, bounded by `timeout`.
    pub fn render(
        &mut self,
        component: &str,
        props_json: &str,
        timeout: Duration,
    ) -> Result<String, RenderError> {
        if self.limits.fresh_context && self.context_used {
            // Strict isolation: every render gets a context of its own with
            // the bundle evaluated anew (from the compiled script).
            if let Err(error) = self.instantiate() {
                self.poisoned = Some(ReplaceReason::FreshContextFailed);
                tracing::error!(%error, "cannot create a fresh context");
                return Err(RenderError::WorkerLost);
            }
        }
        self.renders += 1;
        self.context_used = true;
        let budget = Budget::new(Instant::now() + timeout, self.limits.grace);
        let result = self.call_and_settle(component, props_json, budget, timeout);
        self.end_render(component);
        result
    }

    fn call_and_settle(
        &mut self,
        component: &str,
        props_json: &str,
        budget: Budget,
        timeout: Duration,
    ) -> Result<String, RenderError> {
        let max_output = self.limits.max_output_bytes;
        let called = self.run(budget, Settle::Microtasks, |scope, _| {
            Some(call_component(scope, component, props_json, max_output))
        });
        match self.classify(called, timeout)?? {
            Called::Html(html) => Ok(html),
            Called::Pending(promise) => self.settle(&promise, budget, timeout),
        }
    }

    /// Reads the promise, and while it is pending runs the next timer (and
    /// the microtasks it queued), until it settles, the next timer is due
    /// after the deadline, or nothing is left that could settle it.
    fn settle(
        &mut self,
        promise: &v8::Global<v8::Promise>,
        budget: Budget,
        timeout: Duration,
    ) -> Result<String, RenderError> {
        let max_output = self.limits.max_output_bytes;
        loop {
            let read = self.run(budget, Settle::Nothing, |scope, _| {
                Some(read_promise(scope, promise, max_output))
            });
            if let Settled::Done(result) = self.classify(read, timeout)? {
                return result;
            }
            let Some(due) = runtime::state(&mut self.isolate).timers.next_due() else {
                return Err(RenderError::NeverSettled);
            };
            if due >= budget.deadline {
                // The timer fires after the deadline: give up on the render
                // now. Nothing runs, so nothing needs terminating.
                return Err(RenderError::Timeout(timeout));
            }
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let Some(id) = runtime::state(&mut self.isolate)
                .timers
                .pop_due(Instant::now())
            else {
                continue;
            };
            let fired = self.run(budget, Settle::Microtasks, |scope, handles| {
                fire_timer(scope, handles, id)
            });
            match fired {
                // Like a browser, an exception in a timer is reported and does
                // not stop the event loop.
                Outcome::Threw(error) => tracing::warn!(
                    target: "ssr::console",
                    %error,
                    "uncaught exception in a timer callback"
                ),
                other => self.classify(other, timeout)?,
            }
        }
    }

    /// Maps how a run ended to the render's result, poisoning the isolate
    /// when the run ended in a way that forbids reusing it.
    fn classify<T>(&mut self, outcome: Outcome<T>, timeout: Duration) -> Result<T, RenderError> {
        match outcome {
            Outcome::Done(value) => Ok(value),
            Outcome::HeapLimit => {
                self.poisoned = Some(ReplaceReason::HeapLimit);
                Err(RenderError::OutOfMemory {
                    limit_mb: self.limits.heap_limit_mb,
                })
            }
            Outcome::Terminated => {
                self.poisoned = Some(ReplaceReason::Terminated);
                Err(RenderError::Timeout(timeout))
            }
            Outcome::DeadlinePassed => Err(RenderError::Timeout(timeout)),
            Outcome::Threw(error) => Err(RenderError::Js(error)),
        }
    }

    /// Drops the render's leftover timers and checks the shared intrinsics.
    fn end_render(&mut self, component: &str) {
        let state = runtime::state(&mut self.isolate);
        state.current_component = None;
        let had_timers = state.timers.clear();
        if self.poisoned.is_some() {
            return;
        }
        let budget = Budget::new(Instant::now() + self.limits.grace, Duration::ZERO);
        if had_timers {
            let dropped = self.run(budget, Settle::Nothing, |scope, handles| {
                call_entry(scope, &handles.drop_timers, &[]).map(|_| ())
            });
            if !matches!(dropped, Outcome::Done(_)) {
                self.poisoned = Some(ReplaceReason::Terminated);
                return;
            }
        }
        if self.limits.fresh_context {
            return;
        }
        let intact = self.run(budget, Settle::Nothing, |scope, handles| {
            call_entry(scope, &handles.intact, &[]).map(|v| v.is_true())
        });
        match intact {
            Outcome::Done(true) => {}
            Outcome::HeapLimit => self.poisoned = Some(ReplaceReason::HeapLimit),
            _ => {
                tracing::warn!(
                    component,
                    "a render replaced shared intrinsics; the isolate will be replaced"
                );
                self.poisoned = Some(ReplaceReason::GlobalsTampered);
            }
        }
    }
}

/// Calls one of the runtime's entry points with `undefined` as receiver.
fn call_entry<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    entry: &v8::Global<v8::Function>,
    args: &[v8::Local<v8::Value>],
) -> Option<v8::Local<'s, v8::Value>> {
    let entry = v8::Local::new(scope, entry);
    let recv = v8::undefined(scope).into();
    entry.call(scope, recv, args)
}

fn fire_timer(scope: &mut v8::PinScope, handles: &ContextHandles, id: u32) -> Option<()> {
    let id = v8::Integer::new_from_unsigned(scope, id).into();
    call_entry(scope, &handles.fire_timer, &[id]).map(|_| ())
}

/// Looks the component up, parses the props with V8's JSON parser and calls
/// the render function with `(props, {component})`.
fn call_component(
    scope: &mut v8::PinScope,
    component: &str,
    props_json: &str,
    max_output: usize,
) -> Result<Called, RenderError> {
    let state = runtime::state(scope);
    let Some(entry) = state.component(component) else {
        return Err(RenderError::UnknownComponent(component.to_owned()));
    };
    state.current_component = Some(component.to_owned());
    let entry = v8::Local::new(scope, entry);
    v8::tc_scope!(let tc, scope);
    let Some(props_text) = v8::String::new(tc, props_json) else {
        return Err(RenderError::InvalidProps("props are too large".into()));
    };
    let Some(props) = v8::json::parse(tc, props_text) else {
        let exception = tc.exception();
        let error = caught(tc, exception, "props are not valid JSON");
        return Err(RenderError::InvalidProps(error.message));
    };
    let context = v8::Object::new(tc);
    let key = v8::String::new(tc, "component").unwrap();
    let value = v8::String::new(tc, component).unwrap();
    context.set(tc, key.into(), value.into());
    let recv = v8::undefined(tc).into();
    let Some(result) = entry.call(tc, recv, &[props, context.into()]) else {
        let exception = tc.exception();
        return Err(RenderError::Js(caught(
            tc,
            exception,
            "render failed without an exception",
        )));
    };
    match v8::Local::<v8::Promise>::try_from(result) {
        Ok(promise) => Ok(Called::Pending(v8::Global::new(tc, promise))),
        Err(_) => html_of(tc, result, max_output).map(Called::Html),
    }
}

fn read_promise(
    scope: &mut v8::PinScope,
    promise: &v8::Global<v8::Promise>,
    max_output: usize,
) -> Settled {
    let promise = v8::Local::new(scope, promise);
    match promise.state() {
        v8::PromiseState::Pending => Settled::Pending,
        v8::PromiseState::Fulfilled => {
            let value = promise.result(scope);
            Settled::Done(html_of(scope, value, max_output))
        }
        v8::PromiseState::Rejected => {
            let reason = promise.result(scope);
            Settled::Done(Err(RenderError::Js(js_error(scope, reason))))
        }
    }
}

/// The HTML a render returned, checked against the output limit before it
/// is copied out of the isolate.
fn html_of(
    scope: &mut v8::PinScope,
    value: v8::Local<v8::Value>,
    max_output: usize,
) -> Result<String, RenderError> {
    let Ok(html) = v8::Local::<v8::String>::try_from(value) else {
        let kind = if value.is_null() {
            "null".to_owned()
        } else {
            value.type_of(scope).to_rust_string_lossy(scope)
        };
        return Err(RenderError::NotAString(kind));
    };
    // A UTF-16 unit is at most 3 UTF-8 bytes: only count when it matters.
    if html.length().saturating_mul(3) > max_output {
        let size = html.utf8_length(scope);
        if size > max_output {
            return Err(RenderError::OutputTooLarge {
                size,
                limit: max_output,
            });
        }
    }
    Ok(html.to_rust_string_lossy(scope))
}
