//! One V8 isolate holding one evaluated bundle: created, used and dropped on
//! its worker's thread. Nothing in here is `Send`; only owned data leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bundles::Bundle;

use crate::config::PoolConfig;
use crate::error::{JsError, RenderError, StartError};
use crate::exception::js_error;
use crate::limits::{BufferBudget, HeapGuard, Watchdog};
use crate::runtime::{self, RuntimeState};
use crate::script::{self, CacheOutcome};

/// How a bundle was loaded into an isolate.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub cache: CacheOutcome,
    /// Time to compile the bundle (with or without the code cache).
    pub compile: Duration,
    /// Time to run the bundle's top level.
    pub evaluate: Duration,
    /// Registered component names, sorted.
    pub components: Vec<String>,
}

/// The result of JS execution that may have been cut short.
enum Run<T> {
    Done(T),
    Failed(RenderError),
    /// Execution was terminated (deadline or heap limit); the caller decides
    /// which from the limits' state.
    Terminated,
}

/// An isolate with the runtime and the bundle loaded, ready to render.
pub(crate) struct RenderIsolate {
    // Field order is drop order: handles into the isolate go first, then the
    // isolate, then what its callbacks point at.
    context: Option<v8::Global<v8::Context>>,
    intact: Option<v8::Global<v8::Function>>,
    script: v8::Global<v8::UnboundScript>,
    isolate: v8::OwnedIsolate,
    watchdog: Watchdog,
    heap: Arc<HeapGuard>,
    heap_limit_mb: usize,
    max_output_bytes: usize,
    load_timeout: Duration,
    fresh_context: bool,
    bundle_name: String,
    renders: u64,
    /// A render ran in the current context (fresh-context mode makes a new
    /// one before the next render).
    context_used: bool,
    /// Why the isolate must not be used again (heap limit reached, shared
    /// intrinsics replaced by a render).
    poisoned: Option<&'static str>,
}

fn plain_error(message: &str) -> JsError {
    JsError {
        name: "Error".into(),
        message: message.into(),
        stack: None,
    }
}

impl RenderIsolate {
    /// Creates the isolate, compiles the bundle (consuming `cached` when
    /// given), and instantiates it in a fresh context.
    pub fn new(
        name: &str,
        bundle: &Bundle,
        config: &PoolConfig,
        cached: Option<&[u8]>,
    ) -> Result<(Self, LoadReport), StartError> {
        let heap_bytes = config.heap_limit_mb << 20;
        // The young generation is three semi-spaces: from, to, and new large
        // objects.
        let young_bytes = (config.semi_space_mb.max(1) << 20) * 3;
        let params = v8::CreateParams::default()
            .heap_limits(0, heap_bytes)
            .set_max_young_generation_size_in_bytes(young_bytes)
            .array_buffer_allocator(BufferBudget::allocator(heap_bytes).make_shared());
        let mut isolate = v8::Isolate::new(params);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_slot(RuntimeState::new());
        let heap = HeapGuard::install(&mut isolate);
        let watchdog = Watchdog::start(format!("{name}-watchdog"), isolate.thread_safe_handle())
            .map_err(|e| StartError::Thread(e.to_string()))?;

        let (script, cache, compile) = {
            v8::scope!(let hs, &mut isolate);
            let context = v8::Context::new(hs, Default::default());
            let scope = &mut v8::ContextScope::new(hs, context);
            v8::tc_scope!(let tc, scope);
            let started = Instant::now();
            let Some((unbound, cache)) = script::compile(tc, bundle, cached) else {
                let error = tc
                    .exception()
                    .map(|e| js_error(tc, e))
                    .unwrap_or_else(|| plain_error("bundle could not be compiled"));
                return Err(StartError::Syntax {
                    bundle: bundle.name().to_owned(),
                    error,
                });
            };
            (v8::Global::new(tc, unbound), cache, started.elapsed())
        };
        let mut this = Self {
            context: None,
            intact: None,
            script,
            isolate,
            watchdog,
            heap,
            heap_limit_mb: config.heap_limit_mb,
            max_output_bytes: config.max_output_bytes,
            load_timeout: config.load_timeout,
            fresh_context: config.fresh_context,
            bundle_name: bundle.name().to_owned(),
            renders: 0,
            context_used: false,
            poisoned: None,
        };
        let started = Instant::now();
        this.instantiate()?;
        let evaluate = started.elapsed();
        let state = this
            .isolate
            .get_slot::<RuntimeState>()
            .expect("runtime state");
        let mut components: Vec<String> = state.components.keys().cloned().collect();
        components.sort();
        if components.is_empty() {
            return Err(StartError::NoComponents {
                bundle: bundle.name().to_owned(),
            });
        }
        Ok((
            this,
            LoadReport {
                cache,
                compile,
                evaluate,
                components,
            },
        ))
    }

    /// Creates a new context, installs the runtime, runs the bundle's top
    /// level in it, and captures the intrinsics for the integrity check.
    fn instantiate(&mut self) -> Result<(), StartError> {
        let bundle = self.bundle_name.clone();
        self.isolate
            .get_slot_mut::<RuntimeState>()
            .expect("runtime state")
            .components
            .clear();
        v8::scope!(let hs, &mut self.isolate);
        let context = v8::Context::new(hs, Default::default());
        let scope = &mut v8::ContextScope::new(hs, context);
        let capture = runtime::install(scope).map_err(|message| StartError::BundleThrew {
            bundle: bundle.clone(),
            error: plain_error(&format!("runtime prelude failed: {message}")),
        })?;

        v8::tc_scope!(let tc, scope);
        let unbound = v8::Local::new(tc, &self.script);
        self.watchdog.arm(Instant::now() + self.load_timeout);
        let bound = unbound.bind_to_current_context(tc);
        let result = bound.run(tc);
        // Settle whatever the top level queued (e.g. registration after an
        // `await`).
        if result.is_some() {
            tc.perform_microtask_checkpoint();
        }
        let timed_out = self.watchdog.disarm();
        tc.get_slot_mut::<RuntimeState>()
            .expect("runtime state")
            .timers
            .clear();
        if result.is_none() || timed_out || tc.has_terminated() {
            if timed_out || tc.has_terminated() || self.heap.hit() {
                tc.cancel_terminate_execution();
                return Err(StartError::BundleTimeout {
                    bundle,
                    timeout: self.load_timeout,
                });
            }
            let error = tc
                .exception()
                .map(|e| js_error(tc, e))
                .unwrap_or_else(|| plain_error("bundle failed to load"));
            return Err(StartError::BundleThrew { bundle, error });
        }
        let recv = v8::undefined(tc).into();
        let intact = capture
            .call(tc, recv, &[])
            .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
            .ok_or_else(|| StartError::BundleThrew {
                bundle: bundle.clone(),
                error: plain_error("cannot capture the intrinsics after load"),
            })?;
        self.intact = Some(v8::Global::new(tc, intact));
        self.context = Some(v8::Global::new(tc, context));
        Ok(())
    }

    /// True when the shared intrinsics are still those captured after load.
    fn intrinsics_intact(&mut self) -> bool {
        let (Some(context), Some(intact)) = (&self.context, &self.intact) else {
            return false;
        };
        v8::scope!(let hs, &mut self.isolate);
        let context = v8::Local::new(hs, context);
        let scope = &mut v8::ContextScope::new(hs, context);
        let intact = v8::Local::new(scope, intact);
        v8::tc_scope!(let tc, scope);
        let recv = v8::undefined(tc).into();
        intact.call(tc, recv, &[]).is_some_and(|v| v.is_true())
    }

    /// Renders `component` with `props_json`, bounded by `deadline`.
    pub fn render(
        &mut self,
        component: &str,
        props_json: &str,
        timeout: Duration,
    ) -> Result<String, RenderError> {
        if self.fresh_context && self.context_used {
            // Strict isolation: every render gets a context of its own with
            // the bundle evaluated anew (from the compiled script).
            if let Err(error) = self.instantiate() {
                self.poisoned = Some("fresh_context_failed");
                tracing::error!(%error, "cannot create a fresh context");
                return Err(RenderError::WorkerLost);
            }
        }
        let deadline = Instant::now() + timeout;
        self.renders += 1;
        self.context_used = true;
        self.watchdog.arm(deadline);
        let run = self.run_render(component, props_json, deadline);
        let fired = self.watchdog.disarm();
        let state = self
            .isolate
            .get_slot_mut::<RuntimeState>()
            .expect("runtime state");
        state.timers.clear();
        state.current_component = None;

        let terminated = matches!(run, Run::Terminated) || fired || self.heap.hit();
        if terminated {
            self.isolate.cancel_terminate_execution();
        }
        if !self.fresh_context
            && self.poisoned.is_none()
            && !self.heap.hit()
            && !self.intrinsics_intact()
        {
            tracing::warn!(
                component,
                "a render replaced shared intrinsics; the isolate will be replaced"
            );
            self.poisoned = Some("globals_tampered");
        }
        if self.heap.hit() {
            self.poisoned = Some("heap_limit");
            return Err(RenderError::OutOfMemory {
                limit_mb: self.heap_limit_mb,
            });
        }
        if terminated {
            // Reusing an isolate whose execution was terminated proved
            // unsafe: under heap pressure a later termination could be
            // ignored by optimized code (observed with V8 15.2), so the
            // isolate is replaced instead.
            self.poisoned = Some("terminated");
        }
        match run {
            _ if fired => Err(RenderError::Timeout(timeout)),
            Run::Done(html) => Ok(html),
            Run::Failed(error) => Err(error),
            // Terminated without the watchdog or the heap guard: only our own
            // deadline check in the event loop does that.
            Run::Terminated => Err(RenderError::Timeout(timeout)),
        }
    }

    fn run_render(&mut self, component: &str, props_json: &str, deadline: Instant) -> Run<String> {
        let max_output = self.max_output_bytes;
        let Some(context) = &self.context else {
            return Run::Failed(RenderError::WorkerLost);
        };
        v8::scope!(let hs, &mut self.isolate);
        let context = v8::Local::new(hs, context);
        let scope = &mut v8::ContextScope::new(hs, context);

        let state = scope.get_slot_mut::<RuntimeState>().expect("runtime state");
        let Some(entry) = state.components.get(component).cloned() else {
            return Run::Failed(RenderError::UnknownComponent(component.to_owned()));
        };
        state.current_component = Some(component.to_owned());
        let entry = v8::Local::new(scope, entry);

        v8::tc_scope!(let tc, scope);
        let Some(props_text) = v8::String::new(tc, props_json) else {
            return Run::Failed(RenderError::InvalidProps("props are too large".into()));
        };
        let Some(props) = v8::json::parse(tc, props_text) else {
            if tc.has_terminated() {
                return Run::Terminated;
            }
            let message = tc
                .exception()
                .map(|e| js_error(tc, e).message)
                .unwrap_or_default();
            return Run::Failed(RenderError::InvalidProps(message));
        };
        let info = v8::Object::new(tc);
        let key = v8::String::new(tc, "component").unwrap();
        let value = v8::String::new(tc, component).unwrap();
        info.set(tc, key.into(), value.into());

        let recv = v8::undefined(tc).into();
        let Some(result) = entry.call(tc, recv, &[props, info.into()]) else {
            if tc.has_terminated() {
                return Run::Terminated;
            }
            let error = match tc.exception() {
                Some(e) => js_error(tc, e),
                None => JsError {
                    name: "Error".into(),
                    message: "render failed without an exception".into(),
                    stack: None,
                },
            };
            return Run::Failed(RenderError::Js(error));
        };
        let value = match v8::Local::<v8::Promise>::try_from(result) {
            Err(_) => result,
            Ok(promise) => match settle(tc, promise, deadline) {
                Run::Done(value) => value,
                Run::Failed(e) => return Run::Failed(e),
                Run::Terminated => return Run::Terminated,
            },
        };
        let Ok(html) = v8::Local::<v8::String>::try_from(value) else {
            let kind = value.type_of(tc).to_rust_string_lossy(tc);
            return Run::Failed(RenderError::NotAString(kind));
        };
        // A UTF-16 unit is at most 3 UTF-8 bytes: only count when it matters.
        if html.length().saturating_mul(3) > max_output {
            let size = html.utf8_length(tc);
            if size > max_output {
                return Run::Failed(RenderError::OutputTooLarge {
                    size,
                    limit: max_output,
                });
            }
        }
        Run::Done(html.to_rust_string_lossy(tc))
    }

    /// Starts counting renders towards `max_renders_per_isolate` from zero
    /// (called after warm-up, which does not count).
    pub fn reset_render_count(&mut self) {
        self.renders = 0;
    }

    /// True when the isolate should be replaced before the next render.
    pub fn needs_replacement(
        &mut self,
        config: &PoolConfig,
        check_heap: bool,
    ) -> Option<&'static str> {
        if self.heap.hit() {
            return Some("heap_limit");
        }
        if let Some(reason) = self.poisoned {
            return Some(reason);
        }
        if config.max_renders_per_isolate > 0 && self.renders >= config.max_renders_per_isolate {
            return Some("max_renders");
        }
        if !check_heap {
            return None;
        }
        let threshold = (self.heap_limit_mb << 20) as f64 * config.recycle_heap_fraction;
        if self.heap_used() as f64 > threshold {
            // Garbage counts as used until a GC runs: collect, then decide on
            // what is really alive.
            self.isolate.low_memory_notification();
            if self.heap_used() as f64 > threshold {
                return Some("heap_high_water");
            }
        }
        None
    }

    /// Bytes of JS heap in use.
    pub fn heap_used(&mut self) -> usize {
        self.isolate.get_heap_statistics().used_heap_size()
    }

    /// Serialises the compiled bundle, including every function compiled so
    /// far (top level and warm-up renders), as V8 code cache.
    pub fn create_code_cache(&mut self) -> Option<Vec<u8>> {
        v8::scope!(let hs, &mut self.isolate);
        let script = v8::Local::new(hs, &self.script);
        script.create_code_cache().map(|data| data.to_vec())
    }
}

/// Runs microtasks and timers until `promise` settles, the deadline passes,
/// or nothing is left that could settle it.
fn settle<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    promise: v8::Local<'s, v8::Promise>,
    deadline: Instant,
) -> Run<v8::Local<'s, v8::Value>> {
    loop {
        scope.perform_microtask_checkpoint();
        if scope.is_execution_terminating() {
            return Run::Terminated;
        }
        match promise.state() {
            v8::PromiseState::Fulfilled => return Run::Done(promise.result(scope)),
            v8::PromiseState::Rejected => {
                let reason = promise.result(scope);
                return Run::Failed(RenderError::Js(js_error(scope, reason)));
            }
            v8::PromiseState::Pending => {}
        }
        let state = scope.get_slot_mut::<RuntimeState>().expect("runtime state");
        let Some((id, due, timer)) = state.timers.pop() else {
            return Run::Failed(RenderError::NeverSettled);
        };
        if due >= deadline {
            // The timer would fire after the deadline: waiting is pointless.
            return Run::Terminated;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if let Some(every) = timer.repeat {
            let again = runtime::Timer {
                callback: timer.callback.clone(),
                args: timer.args.clone(),
                repeat: timer.repeat,
            };
            let state = scope.get_slot_mut::<RuntimeState>().expect("runtime state");
            state.timers.insert(id, Instant::now() + every, again);
        }
        run_timer(scope, &timer);
        if scope.is_execution_terminating() || Instant::now() >= deadline {
            return Run::Terminated;
        }
    }
}

/// Calls a timer's callback. Like a browser, an exception in a timer is
/// reported (to the log) and does not stop the event loop.
fn run_timer(scope: &mut v8::PinScope, timer: &runtime::Timer) {
    v8::tc_scope!(let tc, scope);
    let callback = v8::Local::new(tc, &timer.callback);
    let args: Vec<v8::Local<v8::Value>> =
        timer.args.iter().map(|a| v8::Local::new(tc, a)).collect();
    let recv = v8::undefined(tc).into();
    if callback.call(tc, recv, &args).is_none() && !tc.has_terminated() {
        if let Some(exception) = tc.exception() {
            let error = js_error(tc, exception);
            tracing::warn!(target: "ssr::console", error = %error, "uncaught exception in a timer callback");
        }
    }
}
