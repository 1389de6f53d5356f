//! The natives behind the host object `web.js` is installed with: URL
//! parsing and the URL setters (the `url` crate, which implements the WHATWG
//! URL Standard and is tested against its shared test data), and the
//! network side of `fetch` (see [`crate::fetch`]).

use url::{quirks, Url};

use crate::fetch::{FetchRequest, Redirect};
use crate::runtime::{current_render, state, throw_type_error};

/// The natives `web.js` reaches through the host object, by name (see
/// [`crate::runtime::natives`]).
pub(crate) fn natives() -> [(&'static str, v8::FunctionCallback); 5] {
    use v8::MapFnTo;
    [
        ("urlParse", url_parse.map_fn_to()),
        ("urlSet", url_set.map_fn_to()),
        ("fetchStart", fetch_start.map_fn_to()),
        ("fetchAbort", fetch_abort.map_fn_to()),
        ("fetchBody", fetch_body.map_fn_to()),
    ]
}

/// `urlParse(input, base?)`: the URL's components, or null.
fn url_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let input = args.get(0).to_rust_string_lossy(scope);
    let base = args.get(1);
    let parsed = if base.is_undefined() {
        Url::parse(&input).ok()
    } else {
        let base = base.to_rust_string_lossy(scope);
        Url::parse(&base)
            .ok()
            .and_then(|base| base.join(&input).ok())
    };
    match parsed {
        Some(url) => rv.set(components(scope, &url).into()),
        None => rv.set_null(),
    }
}

/// `urlSet(href, name, value)`: the components after the URL setter
/// `name`; null when `href` (or a new href) does not parse. A setter the
/// standard ignores for this URL leaves it unchanged.
fn url_set(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, mut rv: v8::ReturnValue) {
    let href = args.get(0).to_rust_string_lossy(scope);
    let name = args.get(1).to_rust_string_lossy(scope);
    let value = args.get(2).to_rust_string_lossy(scope);
    let Ok(mut url) = Url::parse(&href) else {
        return rv.set_null();
    };
    // Only a bad href fails; the other setters' failures mean "ignore this
    // value", as the standard says.
    let ignored = |_: Result<(), ()>| true;
    let applied = match name.as_str() {
        "href" => quirks::set_href(&mut url, &value).is_ok(),
        "protocol" => ignored(quirks::set_protocol(&mut url, &value)),
        "username" => ignored(quirks::set_username(&mut url, &value)),
        "password" => ignored(quirks::set_password(&mut url, &value)),
        "host" => ignored(quirks::set_host(&mut url, &value)),
        "hostname" => ignored(quirks::set_hostname(&mut url, &value)),
        "port" => ignored(quirks::set_port(&mut url, &value)),
        "pathname" => {
            quirks::set_pathname(&mut url, &value);
            true
        }
        "search" => {
            quirks::set_search(&mut url, &value);
            true
        }
        "hash" => {
            quirks::set_hash(&mut url, &value);
            true
        }
        _ => return throw_type_error(scope, &format!("urlSet: unknown component {name}")),
    };
    if applied {
        rv.set(components(scope, &url).into());
    } else {
        rv.set_null();
    }
}

/// `{href, origin, protocol, username, password, host, hostname, port,
/// pathname, search, hash}` of `url`.
fn components<'s>(scope: &mut v8::PinScope<'s, '_>, url: &Url) -> v8::Local<'s, v8::Object> {
    let fields = [
        ("href", quirks::href(url).to_owned()),
        ("origin", quirks::origin(url)),
        ("protocol", quirks::protocol(url).to_owned()),
        ("username", quirks::username(url).to_owned()),
        ("password", quirks::password(url).to_owned()),
        ("host", quirks::host(url).to_owned()),
        ("hostname", quirks::hostname(url).to_owned()),
        ("port", quirks::port(url).to_owned()),
        ("pathname", quirks::pathname(url).to_owned()),
        ("search", quirks::search(url).to_owned()),
        ("hash", quirks::hash(url).to_owned()),
    ];
    let object = v8::Object::new(scope);
    for (name, value) in fields {
        if let (Some(key), Some(value)) =
            (v8::String::new(scope, name), v8::String::new(scope, &value))
        {
            object.set(scope, key.into(), value.into());
        }
    }
    object
}

/// `fetchStart(method, url, headers, body, redirect)`: starts a request for
/// the running render; its id. Throws a TypeError when fetch is off, the
/// request is malformed, the origin is not allowed, or the render used up
/// its requests.
fn fetch_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue,
) {
    let render = current_render(scope);
    let Some(fetcher) = state(scope).fetcher.clone() else {
        return throw_type_error(
            scope,
            "fetch is off: the service allows no origin (see --fetch-allow)",
        );
    };
    if !state(scope).components_in_flight.contains_key(&render) {
        return throw_type_error(scope, "fetch is only available while a render runs");
    }
    let request = match fetch_request(scope, &args) {
        Ok(request) => request,
        Err(message) => return throw_type_error(scope, &message),
    };
    match state(scope).fetches.start(&fetcher, render, request) {
        Ok(id) => rv.set_uint32(id),
        Err(message) => throw_type_error(scope, &message),
    }
}

/// Reads fetchStart's arguments into a request.
fn fetch_request(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
) -> Result<FetchRequest, String> {
    let method = args.get(0).to_rust_string_lossy(scope);
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("fetch: {method:?} is not a valid method"))?;
    let href = args.get(1).to_rust_string_lossy(scope);
    let url = Url::parse(&href).map_err(|e| format!("fetch: {href:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "fetch: only http and https URLs can be fetched (got {}:)",
            url.scheme()
        ));
    }
    let headers = header_pairs(scope, args.get(2))?;
    let body = match v8::Local::<v8::ArrayBufferView>::try_from(args.get(3)) {
        Ok(view) => {
            let mut bytes = vec![0u8; view.byte_length()];
            view.copy_contents(&mut bytes);
            Some(bytes)
        }
        Err(_) => None,
    };
    let redirect = match args.get(4).to_rust_string_lossy(scope).as_str() {
        "error" => Redirect::Error,
        "manual" => Redirect::Manual,
        _ => Redirect::Follow,
    };
    Ok(FetchRequest {
        method,
        url,
        headers,
        body,
        redirect,
    })
}

/// `[[name, value], ...]` as strings.
fn header_pairs(
    scope: &mut v8::PinScope,
    value: v8::Local<v8::Value>,
) -> Result<Vec<(String, String)>, String> {
    let Ok(list) = v8::Local::<v8::Array>::try_from(value) else {
        return Ok(Vec::new());
    };
    let mut pairs = Vec::with_capacity(list.length() as usize);
    for i in 0..list.length() {
        let pair = list
            .get_index(scope, i)
            .and_then(|p| v8::Local::<v8::Array>::try_from(p).ok())
            .ok_or("fetch: headers must be [name, value] pairs")?;
        let name = pair
            .get_index(scope, 0)
            .map(|v| v.to_rust_string_lossy(scope));
        let value = pair
            .get_index(scope, 1)
            .map(|v| v.to_rust_string_lossy(scope));
        let (Some(name), Some(value)) = (name, value) else {
            return Err("fetch: headers must be [name, value] pairs".to_owned());
        };
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `fetchAbort(id)`: the fetch's signal fired; drop the request.
fn fetch_abort(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    state(scope).fetches.abort(id);
}

/// `fetchBody(id, view)`: copies a settled fetch's body into `view` (made
/// by the prelude, in the render's heap and memory budget).
fn fetch_body(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let Ok(view) = v8::Local::<v8::Uint8Array>::try_from(args.get(1)) else {
        return throw_type_error(scope, "fetchBody: destination must be a Uint8Array");
    };
    let Some(body) = state(scope).fetches.take_body(id) else {
        return;
    };
    let len = body.len().min(view.byte_length());
    if len > 0 {
        // SAFETY: `data()` points at `byte_length()` bytes of the view's
        // buffer, kept alive by the `view` handle; no JS runs meanwhile.
        unsafe {
            std::ptr::copy_nonoverlapping(body.as_ptr(), view.data().cast::<u8>(), len);
        }
    }
}
