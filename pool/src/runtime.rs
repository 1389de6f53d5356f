//! Natives behind the JS runtime surface (`runtime.js`): console, timers,
//! microtasks, performance.now, UTF-8 coding, and component registration
//! (URLs and fetch are in `web_host.rs`). Nothing here reaches the host's
//! file system; only fetch reaches the network, to allowed origins.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{JsError, RenderError};
use crate::exception::js_error;
use crate::fetch::{FetchTable, Fetcher};
use crate::timers::{Timers, MAX_PENDING_TIMERS};
use crate::RenderId;

const PRELUDE: &str = include_str!("runtime.js");
/// The streaming Web APIs (streams, AbortController, Headers...), built
/// from vendored packages by `pool/js/build.mjs`.
const WEB: &str = include_str!("web.js");
/// Both, for what depends on the runtime's code (start-up snapshots).
pub(crate) const SOURCES: (&str, &str) = (PRELUDE, WEB);

/// Longest console line that reaches the service log, in UTF-8 bytes.
const MAX_LOG_BYTES: usize = 16 * 1024;

/// Chunks a stream may have waiting for the sink before its pump pauses
/// until the host asks for more.
const STREAM_HIGH_WATER: usize = 16;

/// What a render's JavaScript reported through the natives during a run;
/// the event loop takes these after each run, in order.
#[derive(Debug)]
pub(crate) enum Output {
    /// A promise settled with HTML (or with something that is not HTML).
    Html(Result<String, RenderError>),
    /// The promise rejected, or the stream errored.
    Failed(JsError),
    /// A stream produced bytes.
    Chunk(Vec<u8>),
    /// A stream closed.
    End,
}

/// Per-isolate state the natives reach through the isolate's slot.
pub(crate) struct RuntimeState {
    /// When the isolate started: `performance.now()` counts from here.
    pub started: Instant,
    /// The same moment in milliseconds since the Unix epoch.
    time_origin: f64,
    /// Registered render functions by component name.
    components: HashMap<String, v8::Global<v8::Function>>,
    /// Components may register only while the bundle loads: a render that
    /// registered would change the component for every later request.
    registry_open: bool,
    /// Components of the renders in flight, for log lines.
    pub components_in_flight: HashMap<RenderId, String>,
    pub timers: Timers,
    /// Reported by renders during the current run.
    pub outputs: Vec<(RenderId, Output)>,
    /// Per streaming render: chunks not yet in its sink.
    pub backlog: HashMap<RenderId, usize>,
    /// Streaming renders whose pump waits for the host to ask for more.
    pub paused: HashSet<RenderId>,
    /// Largest HTML (or streamed output) a render may produce.
    pub max_output_bytes: usize,
    /// Sends the renders' fetches; None when fetch is off.
    pub fetcher: Option<Arc<Fetcher>>,
    pub fetches: FetchTable,
}

impl RuntimeState {
    pub fn new(max_output_bytes: usize) -> Self {
        Self {
            started: Instant::now(),
            time_origin: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            components: HashMap::new(),
            registry_open: false,
            components_in_flight: HashMap::new(),
            timers: Timers::default(),
            outputs: Vec::new(),
            backlog: HashMap::new(),
            paused: HashSet::new(),
            max_output_bytes,
            fetcher: None,
            fetches: FetchTable::default(),
        }
    }

    /// A new context is about to run the bundle's top level.
    pub fn reset_for_load(&mut self) {
        self.components.clear();
        self.registry_open = true;
        self.timers.clear();
    }

    /// The top level ran: drop what it left pending and close the registry.
    pub fn finish_load(&mut self) {
        self.registry_open = false;
        self.timers.clear();
        self.outputs.clear();
    }

    pub fn component(&self, name: &str) -> Option<v8::Global<v8::Function>> {
        self.components.get(name).cloned()
    }

    /// Components registered in an isolate started from a snapshot (where
    /// the bundle registered them before it was taken).
    pub fn restore_components(&mut self, components: HashMap<String, v8::Global<v8::Function>>) {
        self.components = components;
        self.registry_open = false;
    }

    /// The registered components, taken out (the isolate goes into a
    /// snapshot, which must hold them).
    pub fn take_components(&mut self) -> HashMap<String, v8::Global<v8::Function>> {
        std::mem::take(&mut self.components)
    }

    pub fn component_names(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    /// Forgets a finished render's stream bookkeeping.
    pub fn forget(&mut self, render: RenderId) {
        self.components_in_flight.remove(&render);
        self.backlog.remove(&render);
        self.paused.remove(&render);
    }
}

/// The render the running JavaScript belongs to: the host sets it as V8's
/// continuation-preserved embedder data before each entry, and V8 carries
/// it through promise reactions, so microtasks and the timers they set are
/// attributed to the render that started them (0: the bundle's load).
pub(crate) fn current_render(scope: &mut v8::PinScope) -> RenderId {
    let data = scope.get_continuation_preserved_embedder_data();
    data.integer_value(scope)
        .map_or(0, |id| id.max(0) as RenderId)
}

/// Marks what follows as running for `render`.
pub(crate) fn enter_render(scope: &mut v8::PinScope, render: RenderId) {
    let id = v8::Number::new(scope, render as f64);
    scope.set_continuation_preserved_embedder_data(id.into());
}

/// The one accessor for an isolate's [`RuntimeState`].
pub(crate) fn state(isolate: &mut v8::Isolate) -> &mut RuntimeState {
    isolate
        .get_slot_mut::<RuntimeState>()
        .expect("RuntimeState is set on every worker isolate")
}

pub(crate) fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
    let message = v8::String::new(scope, message).unwrap();
    let error = v8::Exception::type_error(scope, message);
    scope.throw_exception(error);
}

fn throw_range_error(scope: &mut v8::PinScope, message: &str) {
    let message = v8::String::new(scope, message).unwrap();
    let error = v8::Exception::range_error(scope, message);
    scope.throw_exception(error);
}

fn log(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let level = args.get(0).int32_value(scope).unwrap_or(1);
    let Some(text) = args.get(1).to_string(scope) else {
        return;
    };
    let text = crate::exception::bounded_string(scope, text, MAX_LOG_BYTES);
    let render = current_render(scope);
    let component = state(scope)
        .components_in_flight
        .get(&render)
        .cloned()
        .unwrap_or_else(|| "-".to_owned());
    let component = component.as_str();
    match level {
        0 => tracing::debug!(target: "ssr::console", component, "{text}"),
        1 => tracing::info!(target: "ssr::console", component, "{text}"),
        2 => tracing::warn!(target: "ssr::console", component, "{text}"),
        _ => tracing::error!(target: "ssr::console", component, "{text}"),
    }
}

fn set_timer(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let delay_ms = args.get(0).number_value(scope).unwrap_or(0.0);
    let delay_ms = if delay_ms.is_finite() {
        delay_ms.clamp(0.0, 1e9)
    } else {
        0.0
    };
    let delay = Duration::from_secs_f64(delay_ms / 1000.0);
    let repeat = args
        .get(1)
        .is_true()
        .then_some(delay.max(Duration::from_millis(1)));
    let owner = current_render(scope);
    match state(scope)
        .timers
        .add(Instant::now() + delay, repeat, owner)
    {
        Some(id) => rv.set_uint32(id),
        None => throw_range_error(
            scope,
            &format!("too many pending timers (at most {MAX_PENDING_TIMERS})"),
        ),
    }
}

fn clear_timer(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    state(scope).timers.remove(id);
}

fn queue_microtask(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue,
) {
    if let Ok(callback) = v8::Local::<v8::Function>::try_from(args.get(0)) {
        scope.enqueue_microtask(callback);
    }
}

fn now(scope: &mut v8::PinScope, _args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let ms = state(scope).started.elapsed().as_secs_f64() * 1000.0;
    rv.set_double(ms);
}

/// `performance.timeOrigin`: when the isolate started, in milliseconds
/// since the Unix epoch. A native, not a value fixed at install, so an
/// isolate started from a snapshot tells its own start.
fn time_origin(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    rv.set_double(state(scope).time_origin);
}

fn utf8_length(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let Ok(text) = v8::Local::<v8::String>::try_from(args.get(0)) else {
        return throw_type_error(scope, "utf8Length: input must be a string");
    };
    // V8 counts a lone surrogate as 3 bytes, the size of the U+FFFD the
    // encoder writes for it.
    rv.set_double(text.utf8_length(scope) as f64);
}

fn encode_into(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let text = args.get(0).to_rust_string_lossy(scope);
    let Ok(dest) = v8::Local::<v8::Uint8Array>::try_from(args.get(1)) else {
        return throw_type_error(scope, "encodeInto: destination must be a Uint8Array");
    };
    let capacity = dest.byte_length();
    // Write whole characters only, as the Encoding Standard requires.
    let mut written = 0;
    let mut read_utf16 = 0;
    for ch in text.chars() {
        let n = ch.len_utf8();
        if written + n > capacity {
            break;
        }
        written += n;
        read_utf16 += ch.len_utf16();
    }
    if written > 0 {
        // SAFETY: `data()` points at `byte_length()` bytes owned by the
        // view's buffer, which the `dest` handle keeps alive; no JS runs
        // while we write.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), dest.data().cast::<u8>(), written);
        }
    }
    let read = v8::Number::new(scope, read_utf16 as f64);
    let written = v8::Number::new(scope, written as f64);
    let pair = v8::Array::new_with_elements(scope, &[read.into(), written.into()]);
    rv.set(pair.into());
}

fn decode(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(args.get(0)) else {
        return throw_type_error(scope, "decode: input must be a view");
    };
    let fatal = args.get(1).is_true();
    let ignore_bom = args.get(2).is_true();
    let mut bytes = vec![0u8; view.byte_length()];
    view.copy_contents(&mut bytes);
    let mut input: &[u8] = &bytes;
    if !ignore_bom {
        input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    }
    let text = match std::str::from_utf8(input) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) if fatal => return throw_type_error(scope, "The encoded data was not valid utf-8"),
        Err(_) => String::from_utf8_lossy(input),
    };
    match v8::String::new(scope, &text) {
        Some(s) => rv.set(s.into()),
        None => throw_type_error(scope, "decode: string too long"),
    }
}

/// The render id a driver native was called with.
fn render_id(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments) -> RenderId {
    args.get(0)
        .integer_value(scope)
        .map_or(0, |id| id.max(0) as RenderId)
}

/// `done(id, value)`: a render's promise fulfilled.
fn done(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let id = render_id(scope, &args);
    let limit = state(scope).max_output_bytes;
    let html = crate::render::html_of(scope, args.get(1), limit);
    state(scope).outputs.push((id, Output::Html(html)));
}

/// `failed(id, error)`: a render's promise rejected or its stream errored.
fn failed(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let id = render_id(scope, &args);
    let error = js_error(scope, args.get(1));
    state(scope).outputs.push((id, Output::Failed(error)));
}

/// `chunk(id, bytes | string)`: a stream produced a chunk. Returns false
/// when the pump should wait for the host to ask for more.
fn chunk(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let id = render_id(scope, &args);
    let value = args.get(1);
    let bytes = if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
        let mut bytes = vec![0u8; view.byte_length()];
        view.copy_contents(&mut bytes);
        bytes
    } else if let Ok(text) = v8::Local::<v8::String>::try_from(value) {
        text.to_rust_string_lossy(scope).into_bytes()
    } else {
        return throw_type_error(
            scope,
            "a render stream must produce Uint8Array or string chunks",
        );
    };
    let state = state(scope);
    state.outputs.push((id, Output::Chunk(bytes)));
    let backlog = state.backlog.entry(id).or_default();
    *backlog += 1;
    let more = *backlog < STREAM_HIGH_WATER;
    if !more {
        state.paused.insert(id);
    }
    rv.set_bool(more);
}

/// `end(id)`: a render's stream closed.
fn end(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let id = render_id(scope, &args);
    state(scope).outputs.push((id, Output::End));
}

fn register(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let name = args.get(0).to_rust_string_lossy(scope);
    let Ok(render) = v8::Local::<v8::Function>::try_from(args.get(1)) else {
        return throw_type_error(scope, "SsrPool.register: render must be a function");
    };
    if !state(scope).registry_open {
        return throw_type_error(
            scope,
            "SsrPool.register: components register while the bundle loads, not during a render",
        );
    }
    let render = v8::Global::new(scope, render);
    if state(scope)
        .components
        .insert(name.clone(), render)
        .is_some()
    {
        tracing::debug!(component = %name, "component registered again; the later render wins");
    }
}

/// The prelude's entry points for the host (see the render driver in
/// `runtime.js`), each named as the prelude names it.
macro_rules! runtime_entries {
    ($($field:ident: $name:literal,)*) => {
        pub(crate) struct RuntimeEntries {
            $(pub $field: v8::Global<v8::Function>,)*
        }

        impl RuntimeEntries {
            /// Reads the entry points off the object the prelude returned
            /// (or one [`RuntimeEntries::to_object`] made).
            pub fn from_object<'s>(
                scope: &mut v8::PinScope<'s, '_>,
                entries: v8::Local<'s, v8::Object>,
            ) -> Option<Self> {
                Some(Self {
                    $($field: entry(scope, entries, $name)?,)*
                })
            }

            /// The entry points as one object, as the prelude returned them.
            pub fn to_object<'s>(
                &self,
                scope: &mut v8::PinScope<'s, '_>,
            ) -> Option<v8::Local<'s, v8::Object>> {
                let object = v8::Object::new(scope);
                $(
                    let key = v8::String::new(scope, $name)?;
                    let value = v8::Local::new(scope, &self.$field);
                    object.set(scope, key.into(), value.into())?;
                )*
                Some(object)
            }
        }
    };
}

runtime_entries! {
    capture_intrinsics: "captureIntrinsics",
    fire_timer: "fireTimer",
    drop_timers: "dropTimers",
    make_context: "makeContext",
    settle: "settle",
    demand: "demand",
    abort: "abort",
    forget: "forget",
    fetch_settled: "fetchSettled",
    prepare_snapshot: "prepareSnapshot",
}

/// The natives the prelude is called with, by name, as the raw callbacks
/// V8 sees: the one list both installing the runtime and registering the
/// callbacks for start-up snapshots (see `snapshot.rs`) read, so the two
/// cannot disagree.
pub(crate) fn natives() -> Vec<(&'static str, v8::FunctionCallback)> {
    use v8::MapFnTo;
    let mut natives: Vec<(&'static str, v8::FunctionCallback)> = vec![
        ("log", log.map_fn_to()),
        ("setTimer", set_timer.map_fn_to()),
        ("clearTimer", clear_timer.map_fn_to()),
        ("queueMicrotask", queue_microtask.map_fn_to()),
        ("now", now.map_fn_to()),
        ("timeOrigin", time_origin.map_fn_to()),
        ("utf8Length", utf8_length.map_fn_to()),
        ("encodeInto", encode_into.map_fn_to()),
        ("decode", decode.map_fn_to()),
        ("register", register.map_fn_to()),
        ("done", done.map_fn_to()),
        ("failed", failed.map_fn_to()),
        ("chunk", chunk.map_fn_to()),
        ("end", end.map_fn_to()),
    ];
    natives.extend(crate::web_host::natives());
    natives
}

/// A new context for bundle code: V8's, without the `gc` function that
/// `--expose-gc` (set for the idle workers' scavenges; see `platform.rs`)
/// puts on its global. The property cannot be deleted, but it is writable.
pub(crate) fn context<'s>(scope: &mut v8::PinScope<'s, '_, ()>) -> v8::Local<'s, v8::Context> {
    let context = v8::Context::new(scope, Default::default());
    let global = context.global(scope);
    let scope = &mut v8::ContextScope::new(scope, context);
    if let Some(key) = v8::String::new(scope, "gc") {
        let undefined = v8::undefined(scope).into();
        global.set(scope, key.into(), undefined);
    }
    context
}

/// Installs the runtime into the current context: builds the natives object
/// and runs the prelude with it. None when the prelude threw (the caller's
/// TryCatch holds the exception).
pub(crate) fn install(scope: &mut v8::PinScope) -> Option<RuntimeEntries> {
    let natives = v8::Object::new(scope);
    for (name, callback) in self::natives() {
        let key = v8::String::new(scope, name)?;
        let function = v8::Function::new_raw(scope, callback)?;
        natives.set(scope, key.into(), function.into());
    }
    let source = v8::String::new(scope, PRELUDE)?;
    let prelude = v8::Script::compile(scope, source, None)?.run(scope)?;
    let prelude = v8::Local::<v8::Function>::try_from(prelude).ok()?;
    let recv = v8::undefined(scope).into();
    let entries = prelude.call(scope, recv, &[natives.into()])?;
    let entries = v8::Local::<v8::Object>::try_from(entries).ok()?;
    // After the prelude: the Web APIs use its timers and microtasks, and
    // are installed with the host object it made (URLs, fetch).
    let web = v8::String::new(scope, WEB)?;
    let install_web = v8::Script::compile(scope, web, None)?.run(scope)?;
    let install_web = v8::Local::<v8::Function>::try_from(install_web).ok()?;
    let host = property(scope, entries, "webHost")?;
    install_web.call(scope, recv, &[host])?;
    RuntimeEntries::from_object(scope, entries)
}

fn entry<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    entries: v8::Local<'s, v8::Object>,
    name: &str,
) -> Option<v8::Global<v8::Function>> {
    let value = property(scope, entries, name)?;
    let function = v8::Local::<v8::Function>::try_from(value).ok()?;
    Some(v8::Global::new(scope, function))
}

fn property<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    object: v8::Local<'s, v8::Object>,
    name: &str,
) -> Option<v8::Local<'s, v8::Value>> {
    let key = v8::String::new(scope, name)?;
    object.get(scope, key.into())
}

/// Captures the shared intrinsics as the bundle left them after load, and
/// returns the function that checks them after each render.
pub(crate) fn capture_intrinsics(
    scope: &mut v8::PinScope,
    entries: &RuntimeEntries,
) -> Option<v8::Global<v8::Function>> {
    let capture = v8::Local::new(scope, &entries.capture_intrinsics);
    let recv = v8::undefined(scope).into();
    let intact = capture.call(scope, recv, &[])?;
    let intact = v8::Local::<v8::Function>::try_from(intact).ok()?;
    Some(v8::Global::new(scope, intact))
}
