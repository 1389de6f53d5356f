//! The Hypernova batch protocol (`POST /batch`), as airbnb/hypernova's
//! server speaks it, so its clients work unchanged.
//!
//! Request: an object (or array) of token -> `{name, data, metadata?}`.
//! Response: HTTP 200 with `{success, error, results}`; each result is
//! `{name, html, meta, duration, statusCode, success, error}`. Jobs render
//! concurrently; results list tokens in the order a JavaScript object would
//! (array-index keys ascending, then the other keys in request order),
//! which is the order the reference server's JSON has.

use std::time::Instant;

use futures_util::StreamExt;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use pool::{JsError, RenderError, RenderPool, RenderRequest};

use crate::app::AppState;
use crate::errors::Code;

/// The reference server answers with Express's JSON content type.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// One job's fields; anything else in the job is ignored.
#[derive(Deserialize)]
struct JobFields {
    /// None when the job has no `name` key (its result then has none
    /// either); `Some(Value::Null)` for an explicit null.
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    data: Option<Box<RawValue>>,
}

/// Deserialises a field that is present, whatever its value (null too).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Serialize)]
pub struct BatchResponse {
    pub success: bool,
    pub error: Option<Value>,
    pub results: IndexMap<String, JobResult>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Value>,
    pub html: Option<String>,
    pub meta: serde_json::Map<String, Value>,
    pub duration: f64,
    pub status_code: u16,
    pub success: bool,
    pub error: Option<JobError>,
}

/// An error as the reference server serialises it (`stack` split into lines).
#[derive(Serialize)]
pub struct JobError {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    pub message: Value,
    pub stack: Vec<String>,
}

/// Parses a batch body. Returns None when it is not a JSON object or array
/// (the reference server answers 400 for those). An empty body is an empty
/// batch, as the reference server's body parser makes it.
pub fn parse(body: &[u8]) -> Option<Vec<(String, Box<RawValue>)>> {
    let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
        return body.is_empty().then(Vec::new);
    };
    match first {
        b'{' => {
            let jobs: IndexMap<String, Box<RawValue>> = serde_json::from_slice(body).ok()?;
            Some(js_key_order(jobs.into_iter().collect()))
        }
        b'[' => {
            let jobs: Vec<Box<RawValue>> = serde_json::from_slice(body).ok()?;
            Some(
                jobs.into_iter()
                    .enumerate()
                    .map(|(i, j)| (i.to_string(), j))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// True for keys JavaScript treats as array indices ("0", "42"; not "01").
fn is_array_index(key: &str) -> bool {
    match key.parse::<u32>() {
        Ok(n) => n != u32::MAX && n.to_string() == key,
        Err(_) => false,
    }
}

/// Orders keys as a JavaScript object does: array indices ascending, then
/// the others in insertion order.
fn js_key_order(mut entries: Vec<(String, Box<RawValue>)>) -> Vec<(String, Box<RawValue>)> {
    let mut others = Vec::new();
    let mut indices = Vec::new();
    for entry in entries.drain(..) {
        if is_array_index(&entry.0) {
            indices.push(entry);
        } else {
            others.push(entry);
        }
    }
    indices.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
    indices.extend(others);
    indices
}

/// How JavaScript would print a job's `name` in a template literal.
fn name_text(name: &Option<Value>) -> String {
    match name {
        None => "undefined".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Jobs of one batch in flight at once: enough to keep every worker busy,
/// few enough that one batch never takes more than a fair share of the
/// shared queue, so other callers keep being served.
pub fn fair_share(pool: &RenderPool) -> usize {
    (pool.workers() * 2)
        .min(pool.config().queue_capacity / 4)
        .max(1)
}

/// Renders the jobs on the pool, at most [`fair_share`] at a time, and
/// builds the response (results in token order).
pub async fn render_batch(
    state: &AppState,
    jobs: Vec<(String, Box<RawValue>)>,
    base: &RenderRequest,
) -> BatchResponse {
    let (pool, debug) = (&state.pool, state.http.debug_errors);
    let renders = jobs.into_iter().map(|(token, raw)| async move {
        let fields: JobFields = serde_json::from_str(raw.get()).unwrap_or(JobFields {
            name: None,
            data: None,
        });
        let started = Instant::now();
        let component = name_text(&fields.name);
        let props = fields
            .data
            .map_or_else(|| "null".to_owned(), |d| d.get().to_owned());
        let request = RenderRequest {
            component: component.clone(),
            props,
            ..base.clone()
        };
        let rendered = pool.render_streaming(request).await;
        state.count_render(&crate::app::metric_app(base), &rendered);
        let result = match rendered {
            Ok(rendered) => rendered.into_html().await,
            Err(error) => Err(error),
        };
        let duration = started.elapsed().as_secs_f64() * 1e3;
        let name = fields.name;
        let job = match result {
            Ok(html) if html.is_empty() => failed(name, duration, 500, Some(no_html_error())),
            Err(RenderError::NotAString(_)) => failed(name, duration, 500, Some(no_html_error())),
            Ok(html) => JobResult {
                name,
                html: Some(html),
                meta: Default::default(),
                duration,
                status_code: 200,
                success: true,
                error: None,
            },
            Err(error) => {
                let (status_code, error) = job_error(&component, error, debug);
                failed(name, duration, status_code, error)
            }
        };
        (token, job)
    });
    let results: Vec<(String, JobResult)> = futures_util::stream::iter(renders)
        .buffered(fair_share(pool))
        .collect()
        .await;
    BatchResponse {
        success: true,
        error: None,
        results: results.into_iter().collect(),
    }
}

fn failed(
    name: Option<Value>,
    duration: f64,
    status_code: u16,
    error: Option<JobError>,
) -> JobResult {
    JobResult {
        name,
        html: None,
        meta: Default::default(),
        duration,
        status_code,
        success: false,
        error,
    }
}

/// What the reference server reports for a render that returned no HTML
/// (an empty string, `null`, `undefined`): its `TypeError` has a null stack,
/// so it is serialised as a non-Error whose message is the error object
/// (`{}` in JSON).
fn no_html_error() -> JobError {
    JobError {
        kind: Some("Error".into()),
        name: "Error".into(),
        message: Value::Object(Default::default()),
        stack: vec![String::new()],
    }
}

/// The value a non-Error throw reported, as JavaScript would serialise it:
/// numbers and booleans stay numbers and booleans.
fn thrown_value(js: &JsError) -> Value {
    match js.name.as_str() {
        "number" | "boolean" => serde_json::from_str(&js.message).unwrap_or(Value::Null),
        _ => Value::String(js.message.clone()),
    }
}

/// True for thrown values JavaScript treats as false (`null`, `undefined`,
/// `0`, `NaN`, `false`, `""`): the reference server records no error for
/// them.
fn thrown_falsy(js: &JsError) -> bool {
    match js.name.as_str() {
        "null" | "undefined" => true,
        "number" => matches!(js.message.as_str(), "0" | "-0" | "NaN"),
        "boolean" => js.message == "false",
        "string" => js.message.is_empty(),
        _ => false,
    }
}

fn job_error(component: &str, error: RenderError, debug: bool) -> (u16, Option<JobError>) {
    match error {
        RenderError::UnknownComponent(_) => {
            let message = format!("Component \"{component}\" not registered");
            (
                404,
                Some(JobError {
                    kind: None,
                    name: "ReferenceError".into(),
                    stack: vec![
                        format!("ReferenceError: {message}"),
                        format!("at YOUR-COMPONENT-DID-NOT-REGISTER_{component}:1:1"),
                    ],
                    message: Value::String(message),
                }),
            )
        }
        // A thrown value without a stack is not an Error: the reference
        // server reports it as {type: "Error", name: "Error", message: value,
        // stack: [""]}.
        RenderError::Js(js) if js.stack.is_none() && thrown_falsy(&js) => (500, None),
        RenderError::Js(js) if js.stack.is_none() => (
            500,
            Some(JobError {
                kind: Some("Error".into()),
                name: "Error".into(),
                message: thrown_value(&js),
                stack: vec![String::new()],
            }),
        ),
        RenderError::Js(js) => {
            let stack = match (&js.stack, debug) {
                (Some(stack), true) => stack.split("\n    ").map(str::to_owned).collect(),
                _ => vec![format!("{}: {}", js.name, js.message)],
            };
            (
                500,
                Some(JobError {
                    kind: None,
                    name: js.name,
                    message: Value::String(js.message),
                    stack,
                }),
            )
        }
        other => {
            tracing::warn!(component, error = %other, "batch job failed");
            (
                Code::from(other.kind()).status().as_u16(),
                Some(JobError {
                    kind: Some("Error".into()),
                    name: "Error".into(),
                    message: Value::String(other.to_string()),
                    stack: vec![format!("Error: {other}")],
                }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_tokens_like_a_javascript_object() {
        let jobs = parse(br#"{"b": {}, "10": {}, "a": {}, "2": {}, "01": {}, "0": {}}"#).unwrap();
        let keys: Vec<_> = jobs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["0", "2", "10", "b", "a", "01"]);
    }

    #[test]
    fn accepts_arrays_and_refuses_scalars() {
        let jobs = parse(br#"[{"name": "A"}, {"name": "B"}]"#).unwrap();
        assert_eq!(jobs[1].0, "1");
        assert!(parse(b"\"x\"").is_none());
        assert!(parse(b"{nope").is_none());
        assert_eq!(parse(b"").map(|jobs| jobs.len()), Some(0));
        assert!(parse(b"  ").is_none());
    }
}
