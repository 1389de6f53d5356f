//! Turning thrown JavaScript values into [`JsError`] data. Thrown values can
//! be hostile (getters that throw, proxies, 100 MiB messages), so every
//! property read is guarded and every string is bounded before it is copied
//! out of the isolate.

use crate::error::JsError;

/// Longest `name` copied out of the isolate, in UTF-8 bytes.
pub(crate) const MAX_NAME_BYTES: usize = 256;
/// Longest `message` copied out of the isolate, in UTF-8 bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Longest `stack` copied out of the isolate, in UTF-8 bytes.
pub(crate) const MAX_STACK_BYTES: usize = 16 * 1024;

/// Copies at most `limit` UTF-8 bytes of `text` (whole characters), marking
/// a cut with the original length so nobody mistakes it for the whole.
pub(crate) fn bounded_string(
    scope: &v8::Isolate,
    text: v8::Local<v8::String>,
    limit: usize,
) -> String {
    // A UTF-16 unit is at most 3 UTF-8 bytes: short strings copy whole.
    if text.length().saturating_mul(3) <= limit {
        return text.to_rust_string_lossy(scope);
    }
    let mut buffer = vec![0u8; limit];
    let mut chars = 0;
    let written = text.write_utf8_v2(
        scope,
        &mut buffer,
        v8::WriteFlags::kReplaceInvalidUtf8,
        Some(&mut chars),
    );
    if chars >= text.length() {
        buffer.truncate(written);
        return String::from_utf8_lossy(&buffer).into_owned();
    }
    buffer.truncate(written);
    let mut out = String::from_utf8_lossy(&buffer).into_owned();
    out.push_str(&format!(
        "... [truncated: {} of {} characters shown]",
        chars,
        text.length()
    ));
    out
}

/// Reads `key` of `object` as a bounded string, or None when absent,
/// undefined, or when reading it throws.
fn string_property(
    scope: &mut v8::PinScope,
    object: v8::Local<v8::Object>,
    key: &str,
    limit: usize,
) -> Option<String> {
    v8::tc_scope!(let tc, scope);
    let key = v8::String::new(tc, key)?;
    let value = object.get(tc, key.into())?;
    if value.is_undefined() {
        return None;
    }
    let text = value.to_string(tc)?;
    Some(bounded_string(tc, text, limit))
}

/// Converts any thrown value to owned, bounded error data.
pub(crate) fn js_error(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> JsError {
    if let Ok(object) = v8::Local::<v8::Object>::try_from(value) {
        let message = string_property(scope, object, "message", MAX_MESSAGE_BYTES);
        let name = string_property(scope, object, "name", MAX_NAME_BYTES);
        let stack = string_property(scope, object, "stack", MAX_STACK_BYTES);
        let message = message.unwrap_or_else(|| describe(scope, value));
        return JsError {
            name: name.unwrap_or_else(|| "Error".to_owned()),
            message,
            stack,
        };
    }
    let name = if value.is_null() {
        "null".to_owned()
    } else {
        value.type_of(scope).to_rust_string_lossy(scope)
    };
    JsError {
        name,
        message: describe(scope, value),
        stack: None,
    }
}

/// `String(value)` (bounded), or a placeholder when that throws.
fn describe(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> String {
    v8::tc_scope!(let tc, scope);
    match value.to_string(tc) {
        Some(s) => bounded_string(tc, s, MAX_MESSAGE_BYTES),
        None => "[value that cannot be converted to a string]".to_owned(),
    }
}

/// The exception caught by `scope`, or a plain error saying `fallback`.
pub(crate) fn caught(
    scope: &mut v8::PinScope,
    exception: Option<v8::Local<v8::Value>>,
    fallback: &str,
) -> JsError {
    match exception {
        Some(e) => js_error(scope, e),
        None => JsError::plain(fallback),
    }
}

/// The start error of a bundle (`bundle`) whose file failed to compile
/// with `exception`, located at the position V8 gives it.
pub(crate) fn syntax_error(
    scope: &mut v8::PinScope,
    bundle: &str,
    exception: Option<v8::Local<v8::Value>>,
) -> crate::error::StartError {
    let at = exception
        .and_then(|exception| {
            let message = v8::Exception::create_message(scope, exception);
            let file = message.get_script_resource_name(scope)?;
            let file = file.to_rust_string_lossy(scope);
            let line = message.get_line_number(scope)?;
            Some(format!("{file}:{line}:{}", message.get_start_column() + 1))
        })
        .unwrap_or_else(|| bundle.to_owned());
    crate::error::StartError::Syntax {
        bundle: bundle.to_owned(),
        at,
        error: caught(scope, exception, "the bundle could not be compiled"),
    }
}
