//! Natives behind the JS runtime surface (`runtime.js`): console, timers,
//! microtasks, performance.now, UTF-8 coding, and component registration.
//! Nothing here reaches the host's file system or network.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const PRELUDE: &str = include_str!("runtime.js");

/// Per-isolate state the natives reach through the isolate's slots.
pub(crate) struct RuntimeState {
    /// When the isolate started: `performance.now()` counts from here.
    pub started: Instant,
    /// Registered render functions by component name.
    pub components: HashMap<String, v8::Global<v8::Function>>,
    /// The component being rendered, for log lines.
    pub current_component: Option<String>,
    pub timers: Timers,
}

impl RuntimeState {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            components: HashMap::new(),
            current_component: None,
            timers: Timers::default(),
        }
    }
}

/// A timer registered with setTimeout/setInterval.
pub(crate) struct Timer {
    pub callback: v8::Global<v8::Function>,
    pub args: Vec<v8::Global<v8::Value>>,
    pub repeat: Option<Duration>,
}

/// Pending timers ordered by due time, then by id (registration order).
#[derive(Default)]
pub(crate) struct Timers {
    next_id: u32,
    by_due: BTreeMap<(Instant, u32), Timer>,
    due_of: HashMap<u32, Instant>,
}

impl Timers {
    fn add(&mut self, due: Instant, timer: Timer) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.insert(id, due, timer);
        id
    }

    /// Puts a repeating timer back under its old id.
    pub fn insert(&mut self, id: u32, due: Instant, timer: Timer) {
        self.by_due.insert((due, id), timer);
        self.due_of.insert(id, due);
    }

    fn remove(&mut self, id: u32) {
        if let Some(due) = self.due_of.remove(&id) {
            self.by_due.remove(&(due, id));
        }
    }

    /// Takes the earliest timer out of the queue.
    pub fn pop(&mut self) -> Option<(u32, Instant, Timer)> {
        let ((due, id), timer) = self.by_due.pop_first()?;
        self.due_of.remove(&id);
        Some((id, due, timer))
    }

    /// Drops every pending timer (at the end of a render).
    pub fn clear(&mut self) {
        self.by_due.clear();
        self.due_of.clear();
    }
}

fn state<'a>(scope: &'a mut v8::PinScope) -> &'a mut RuntimeState {
    scope
        .get_slot_mut::<RuntimeState>()
        .expect("RuntimeState is set on every worker isolate")
}

fn throw_type_error(scope: &mut v8::PinScope, message: &str) {
    let message = v8::String::new(scope, message).unwrap();
    let error = v8::Exception::type_error(scope, message);
    scope.throw_exception(error);
}

fn log(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let level = args.get(0).int32_value(scope).unwrap_or(1);
    let text = args.get(1).to_rust_string_lossy(scope);
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
    let Ok(callback) = v8::Local::<v8::Function>::try_from(args.get(0)) else {
        // Browsers accept a string to eval here; this runtime does not eval.
        return throw_type_error(scope, "setTimeout/setInterval: callback must be a function");
    };
    let delay_ms = args.get(1).number_value(scope).unwrap_or(0.0);
    let delay_ms = if delay_ms.is_finite() {
        delay_ms.clamp(0.0, 1e9)
    } else {
        0.0
    };
    let delay = Duration::from_secs_f64(delay_ms / 1000.0);
    let repeat = args.get(2).is_true();
    let mut extra = Vec::new();
    if let Ok(array) = v8::Local::<v8::Array>::try_from(args.get(3)) {
        for i in 0..array.length() {
            if let Some(value) = array.get_index(scope, i) {
                extra.push(v8::Global::new(scope, value));
            }
        }
    }
    let timer = Timer {
        callback: v8::Global::new(scope, callback),
        args: extra,
        repeat: repeat.then_some(delay.max(Duration::from_millis(1))),
    };
    let id = state(scope).timers.add(Instant::now() + delay, timer);
    rv.set_uint32(id);
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

fn encode(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let text = args.get(0).to_rust_string_lossy(scope);
    let bytes = text.into_bytes();
    let len = bytes.len();
    let store = v8::ArrayBuffer::new_backing_store_from_vec(bytes).make_shared();
    let buffer = v8::ArrayBuffer::with_backing_store(scope, &store);
    if let Some(array) = v8::Uint8Array::new(scope, buffer, 0, len) {
        rv.set(array.into());
    }
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
    let render = v8::Global::new(scope, render);
    if state(scope)
        .components
        .insert(name.clone(), render)
        .is_some()
    {
        tracing::debug!(component = %name, "component registered again; the later render wins");
    }
}

/// Installs the runtime into the current context: builds the natives object
/// and runs the prelude with it. Returns the function that captures the
/// intrinsics (see `runtime.js`), or the prelude's exception.
pub(crate) fn install<'s>(
    scope: &mut v8::PinScope<'s, '_>,
) -> Result<v8::Local<'s, v8::Function>, String> {
    let natives = v8::Object::new(scope);
    macro_rules! native {
        ($name:literal, $f:expr) => {{
            let key = v8::String::new(scope, $name).unwrap();
            let function = v8::Function::new(scope, $f).ok_or("cannot create native")?;
            natives.set(scope, key.into(), function.into());
        }};
    }
    native!("log", log);
    native!("setTimer", set_timer);
    native!("clearTimer", clear_timer);
    native!("queueMicrotask", queue_microtask);
    native!("now", now);
    native!("encode", encode);
    native!("encodeInto", encode_into);
    native!("decode", decode);
    native!("register", register);
    let origin_key = v8::String::new(scope, "timeOrigin").unwrap();
    let origin = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let origin = v8::Number::new(scope, origin);
    natives.set(scope, origin_key.into(), origin.into());

    let source = v8::String::new(scope, PRELUDE).unwrap();
    let escaped = {
        v8::tc_scope!(let tc, scope);
        let result = v8::Script::compile(tc, source, None)
            .and_then(|script| script.run(tc))
            .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
            .and_then(|f| {
                let recv = v8::undefined(tc).into();
                f.call(tc, recv, &[natives.into()])
            })
            .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok());
        match result {
            Some(capture) => Ok(v8::Global::new(tc, capture)),
            None => Err(tc
                .exception()
                .map(|e| e.to_rust_string_lossy(tc))
                .unwrap_or_else(|| "runtime prelude failed".into())),
        }
    };
    escaped.map(|global| v8::Local::new(scope, global))
}
