//! One render in flight on an isolate: a small state machine the event
//! loop drives. It starts with the call of the component (one bounded run);
//! a string answers at once, a promise or a stream stays in flight until the
//! driver in `runtime.js` reports its HTML, its chunks, its end or its
//! failure, the deadline passes, or the caller goes away.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::RenderError;
use crate::exception::caught;
use crate::isolate::ContextHandles;
use crate::runtime;
use crate::sink::{RenderBody, StreamSink};
use crate::{RenderId, Rendered};

/// Where a render's first answer goes: the caller's reply channel.
pub(crate) type Reply = oneshot::Sender<Result<Rendered, RenderError>>;

/// A render the isolate has started and not finished.
pub(crate) struct Render {
    pub id: RenderId,
    pub component: String,
    /// The caller's channel, until the first answer (HTML, first chunk or
    /// error) is sent.
    pub reply: Option<Reply>,
    pub started: Instant,
    pub queued: Duration,
    pub timeout: Duration,
    /// When the render's signal fires; after that, a stream has
    /// `termination_grace` to finish.
    pub deadline: Instant,
    /// The signal fired at the deadline (a stream finishing its fallbacks).
    pub aborted: bool,
    /// Set once the render produced its first chunk.
    pub sink: Option<StreamSink>,
    /// The stream closed; the render finishes once its outbox drained.
    pub ended: bool,
}

impl Render {
    /// When the event loop must next look at this render.
    pub fn due(&self, grace: Duration) -> Instant {
        if self.aborted {
            self.deadline + grace
        } else {
            self.deadline
        }
    }
}

/// What calling a component gave back.
pub(crate) enum Called {
    Html(String),
    /// A promise or a stream: handed to the driver.
    InFlight,
}

/// Calls one of the runtime's entry points with `undefined` as receiver.
pub(crate) fn call_entry<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    entry: &v8::Global<v8::Function>,
    args: &[v8::Local<v8::Value>],
) -> Option<v8::Local<'s, v8::Value>> {
    let entry = v8::Local::new(scope, entry);
    let recv = v8::undefined(scope).into();
    entry.call(scope, recv, args)
}

fn number<'s>(scope: &mut v8::PinScope<'s, '_>, n: u64) -> v8::Local<'s, v8::Value> {
    v8::Number::new(scope, n as f64).into()
}

/// One call of a component.
pub(crate) struct Call<'a> {
    pub id: RenderId,
    pub component: &'a str,
    pub props_json: &'a str,
    /// What the render sees as `context.headers`.
    pub headers: &'a [(String, String)],
    pub max_output: usize,
}

/// Looks the component up, parses the props with V8's JSON parser and calls
/// the render function with `(props, context)`; hands anything that is not a
/// string to the driver.
pub(crate) fn call_component(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    call: Call,
) -> Result<Called, RenderError> {
    let Call {
        id,
        component,
        props_json,
        headers,
        max_output,
    } = call;
    let Some(entry) = runtime::state(scope).component(component) else {
        return Err(RenderError::UnknownComponent(component.to_owned()));
    };
    runtime::enter_render(scope, id);
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
    let render_id = number(tc, id);
    let name = v8::String::new(tc, component).unwrap().into();
    let headers = string_record(tc, headers);
    let context = call_entry(
        tc,
        &handles.entries.make_context,
        &[render_id, name, headers],
    );
    let js_failure = |tc: &mut v8::PinScope, exception| {
        RenderError::Js(caught(tc, exception, "render failed without an exception"))
    };
    let Some(context) = context else {
        let exception = tc.exception();
        return Err(js_failure(tc, exception));
    };
    let recv = v8::undefined(tc).into();
    let Some(result) = entry.call(tc, recv, &[props, context]) else {
        let exception = tc.exception();
        return Err(js_failure(tc, exception));
    };
    if result.is_string() {
        return html_of(tc, result, max_output).map(Called::Html);
    }
    if call_entry(tc, &handles.entries.settle, &[render_id, result]).is_none() {
        let exception = tc.exception();
        return Err(js_failure(tc, exception));
    }
    Ok(Called::InFlight)
}

/// Fires the render's signal; with `cancel`, also cancels its stream.
pub(crate) fn abort(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    id: RenderId,
    reason: &str,
    cancel: bool,
) -> Option<()> {
    runtime::enter_render(scope, id);
    let id = number(scope, id);
    let reason = v8::String::new(scope, reason)?.into();
    let cancel = v8::Boolean::new(scope, cancel).into();
    call_entry(scope, &handles.entries.abort, &[id, reason, cancel]).map(|_| ())
}

/// Resumes a stream pump that waited for room in its sink.
pub(crate) fn demand(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    id: RenderId,
) -> Option<()> {
    runtime::enter_render(scope, id);
    let id = number(scope, id);
    call_entry(scope, &handles.entries.demand, &[id]).map(|_| ())
}

/// Forgets a finished render in the prelude: its timers' callbacks, its
/// controller, reader and demand, its fetches.
pub(crate) fn forget(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    id: RenderId,
    timers: &[u32],
    fetches: &[u32],
) -> Option<()> {
    let timers = id_array(scope, timers);
    call_entry(scope, &handles.entries.drop_timers, &[timers])?;
    let id = number(scope, id);
    let fetches = id_array(scope, fetches);
    call_entry(scope, &handles.entries.forget, &[id, fetches]).map(|_| ())
}

fn id_array<'s>(scope: &mut v8::PinScope<'s, '_>, ids: &[u32]) -> v8::Local<'s, v8::Value> {
    let ids: Vec<v8::Local<v8::Value>> = ids
        .iter()
        .map(|t| v8::Integer::new_from_unsigned(scope, *t).into())
        .collect();
    v8::Array::new_with_elements(scope, &ids).into()
}

/// `{name: value, ...}` of `pairs`.
fn string_record<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    pairs: &[(String, String)],
) -> v8::Local<'s, v8::Value> {
    let record = v8::Object::new(scope);
    for (name, value) in pairs {
        if let (Some(name), Some(value)) =
            (v8::String::new(scope, name), v8::String::new(scope, value))
        {
            record.set(scope, name.into(), value.into());
        }
    }
    record.into()
}

/// Settles a fetch of render `id` in the prelude: the response's head with
/// the length of its body (which waits in the fetch table until the prelude
/// copies it), or the failure's message.
pub(crate) fn fetch_settled(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    id: RenderId,
    fetch: u32,
    result: &Result<crate::fetch::FetchResponse, String>,
    body_len: usize,
) -> Option<()> {
    runtime::enter_render(scope, id);
    let fetch_id = v8::Integer::new_from_unsigned(scope, fetch).into();
    let undefined = v8::undefined(scope).into();
    let args = match result {
        Ok(response) => [
            fetch_id,
            response_head(scope, response, body_len)?,
            undefined,
        ],
        Err(message) => [fetch_id, undefined, v8::String::new(scope, message)?.into()],
    };
    call_entry(scope, &handles.entries.fetch_settled, &args).map(|_| ())
}

/// `{status, statusText, url, redirected, headers: [[name, value]...],
/// bodyLength}`.
fn response_head<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    response: &crate::fetch::FetchResponse,
    body_len: usize,
) -> Option<v8::Local<'s, v8::Value>> {
    let mut pairs = Vec::with_capacity(response.headers.len());
    for (name, value) in &response.headers {
        let name = v8::String::new(scope, name)?.into();
        let value = v8::String::new(scope, value)?.into();
        pairs.push(v8::Array::new_with_elements(scope, &[name, value]).into());
    }
    let fields: [(&str, v8::Local<v8::Value>); 6] = [
        (
            "status",
            v8::Integer::new(scope, response.status.into()).into(),
        ),
        (
            "statusText",
            v8::String::new(scope, &response.status_text)?.into(),
        ),
        ("url", v8::String::new(scope, &response.url)?.into()),
        (
            "redirected",
            v8::Boolean::new(scope, response.redirected).into(),
        ),
        (
            "headers",
            v8::Array::new_with_elements(scope, &pairs).into(),
        ),
        ("bodyLength", number(scope, body_len as u64)),
    ];
    let head = v8::Object::new(scope);
    for (name, value) in fields {
        let key = v8::String::new(scope, name)?;
        head.set(scope, key.into(), value);
    }
    Some(head.into())
}

pub(crate) fn fire_timer(
    scope: &mut v8::PinScope,
    handles: &ContextHandles,
    id: u32,
    owner: RenderId,
) -> Option<()> {
    runtime::enter_render(scope, owner);
    let id = v8::Integer::new_from_unsigned(scope, id).into();
    call_entry(scope, &handles.entries.fire_timer, &[id]).map(|_| ())
}

/// The HTML a render returned, checked against the output limit before it
/// is copied out of the isolate.
pub(crate) fn html_of(
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

/// The answer to a render's caller.
pub(crate) fn rendered(
    render: &Render,
    body: RenderBody,
    worker: usize,
    bundle: bundles::ContentHash,
) -> Rendered {
    Rendered {
        body,
        render_time: render.started.elapsed(),
        queue_time: render.queued,
        worker,
        bundle,
    }
}
