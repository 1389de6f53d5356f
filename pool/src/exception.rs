//! Turning thrown JavaScript values into [`JsError`] data. Thrown values can
//! be hostile (getters that throw, proxies), so every property read is
//! guarded and falls back to a placeholder.

use crate::error::JsError;

/// Reads `key` of `object` as a string, or None when absent, undefined, or
/// when reading it throws.
fn string_property(
    scope: &mut v8::PinScope,
    object: v8::Local<v8::Object>,
    key: &str,
) -> Option<String> {
    v8::tc_scope!(let tc, scope);
    let key = v8::String::new(tc, key)?;
    let value = object.get(tc, key.into())?;
    if value.is_undefined() {
        return None;
    }
    let text = value.to_string(tc)?;
    Some(text.to_rust_string_lossy(tc))
}

/// Converts any thrown value to owned error data.
pub(crate) fn js_error(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> JsError {
    if let Ok(object) = v8::Local::<v8::Object>::try_from(value) {
        let message = string_property(scope, object, "message");
        let name = string_property(scope, object, "name");
        let stack = string_property(scope, object, "stack");
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

/// `String(value)`, or a placeholder when that throws.
fn describe(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> String {
    v8::tc_scope!(let tc, scope);
    match value.to_string(tc) {
        Some(s) => s.to_rust_string_lossy(tc),
        None => "[value that cannot be converted to a string]".to_owned(),
    }
}
