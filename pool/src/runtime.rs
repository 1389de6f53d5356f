//! Natives behind the JS runtime surface (`runtime.js`): console, timers,
//! microtasks, performance.now, UTF-8 coding, and component registration.
//! Nothing here reaches the host's file system or network.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const PRELUDE: &str = include_str!("runtime.js");

/// Most timers one isolate may have pending at once; `setTimeout` past it
/// throws a RangeError. Each pending timer costs host memory outside the JS
/// heap (its callback and arguments stay on the heap, which is limited).
pub(crate) const MAX_PENDING_TIMERS: usize = 10_000;

/// Longest console line that reaches the service log, in UTF-8 bytes.
const MAX_LOG_BYTES: usize = 16 * 1024;

/// Per-isolate state the natives reach through the isolate's slot.
pub(crate) struct RuntimeState {
    /// When the isolate started: `performance.now()` counts from here.
    pub started: Instant,
    /// Registered render functions by component name.
    components: HashMap<String, v8::Global<v8::Function>>,
    /// Components may register only while the bundle loads: a render that
    /// registered would change the component for every later request.
    registry_open: bool,
    /// The component being rendered, for log lines.
    pub current_component: Option<String>,
    pub timers: Timers,
}

impl RuntimeState {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            components: HashMap::new(),
            registry_open: false,
            current_component: None,
            timers: Timers::default(),
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
    }

    pub fn component(&self, name: &str) -> Option<v8::Global<v8::Function>> {
        self.components.get(name).cloned()
    }

    pub fn component_names(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }
}

/// The one accessor for an isolate's [`RuntimeState`].
pub(crate) fn state(isolate: &mut v8::Isolate) -> &mut RuntimeState {
    isolate
        .get_slot_mut::<RuntimeState>()
        .expect("RuntimeState is set on every worker isolate")
}

/// Pending timers ordered by due time, then by id (registration order). The
/// host keeps only ids and due times; callbacks and arguments live in the
/// prelude's table on the JS heap.
#[derive(Default)]
pub(crate) struct Timers {
    next_id: u32,
    by_due: BTreeMap<(Instant, u32), Option<Duration>>,
    due_of: HashMap<u32, Instant>,
    /// A timer was registered since the last `clear`.
    registered: bool,
}

impl Timers {
    fn add(&mut self, due: Instant, repeat: Option<Duration>) -> Option<u32> {
        if self.due_of.len() >= MAX_PENDING_TIMERS {
            return None;
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.by_due.insert((due, id), repeat);
        self.due_of.insert(id, due);
        self.registered = true;
        Some(id)
    }

    fn remove(&mut self, id: u32) {
        if let Some(due) = self.due_of.remove(&id) {
            self.by_due.remove(&(due, id));
        }
    }

    /// When the earliest timer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_due.first_key_value().map(|((due, _), _)| *due)
    }

    /// Takes the earliest timer if it is due at `now`; a repeating timer is
    /// put back under its id for its next run.
    pub fn pop_due(&mut self, now: Instant) -> Option<u32> {
        if self.next_due()? > now {
            return None;
        }
        let ((due, id), repeat) = self.by_due.pop_first()?;
        self.due_of.remove(&id);
        if let Some(every) = repeat {
            let next = due.max(now) + every;
            self.by_due.insert((next, id), repeat);
            self.due_of.insert(id, next);
        }
        Some(id)
    }

    /// Drops every pending timer; true when any was registered since the
    /// last clear (so the prelude's table needs clearing too).
    pub fn clear(&mut self) -> bool {
        self.by_due.clear();
        self.due_of.clear();
        std::mem::take(&mut self.registered)
    }
}

fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
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
    let component = state(scope).current_component.as_deref().unwrap_or("-");
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
    match state(scope).timers.add(Instant::now() + delay, repeat) {
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

/// The prelude's entry points for the host.
pub(crate) struct RuntimeEntries {
    /// Captures the shared intrinsics; returns the function comparing them.
    pub capture_intrinsics: v8::Global<v8::Function>,
    pub fire_timer: v8::Global<v8::Function>,
    pub drop_timers: v8::Global<v8::Function>,
}

/// Installs the runtime into the current context: builds the natives object
/// and runs the prelude with it. None when the prelude threw (the caller's
/// TryCatch holds the exception).
pub(crate) fn install(scope: &mut v8::PinScope) -> Option<RuntimeEntries> {
    let natives = v8::Object::new(scope);
    macro_rules! native {
        ($name:literal, $f:expr) => {{
            let key = v8::String::new(scope, $name)?;
            let function = v8::Function::new(scope, $f)?;
            natives.set(scope, key.into(), function.into());
        }};
    }
    native!("log", log);
    native!("setTimer", set_timer);
    native!("clearTimer", clear_timer);
    native!("queueMicrotask", queue_microtask);
    native!("now", now);
    native!("utf8Length", utf8_length);
    native!("encodeInto", encode_into);
    native!("decode", decode);
    native!("register", register);
    let origin_key = v8::String::new(scope, "timeOrigin")?;
    let origin = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let origin = v8::Number::new(scope, origin);
    natives.set(scope, origin_key.into(), origin.into());

    let source = v8::String::new(scope, PRELUDE)?;
    let prelude = v8::Script::compile(scope, source, None)?.run(scope)?;
    let prelude = v8::Local::<v8::Function>::try_from(prelude).ok()?;
    let recv = v8::undefined(scope).into();
    let entries = prelude.call(scope, recv, &[natives.into()])?;
    let entries = v8::Local::<v8::Object>::try_from(entries).ok()?;
    let function = |scope: &mut v8::PinScope, name: &str| {
        let key = v8::String::new(scope, name)?;
        let value = entries.get(scope, key.into())?;
        let function = v8::Local::<v8::Function>::try_from(value).ok()?;
        Some(v8::Global::new(scope, function))
    };
    Some(RuntimeEntries {
        capture_intrinsics: function(scope, "captureIntrinsics")?,
        fire_timer: function(scope, "fireTimer")?,
        drop_timers: function(scope, "dropTimers")?,
    })
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
