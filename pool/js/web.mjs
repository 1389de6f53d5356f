// Entry of pool/src/web.js (built by build.mjs): the Web APIs a render
// needs, defined on globalThis like runtime.js's globals (writable,
// configurable, not enumerable). The script evaluates to a function
// `(host) => void`; calling it runs this module and install(host). Besides
// the host, it uses the ECMAScript built-ins and, when called, the runtime's
// setTimeout, queueMicrotask, performance.now, console, TextEncoder and
// TextDecoder.
//
// The host: an object whose functions install reads (it calls none) and
// that are later called without a receiver. The bytes and errors they
// return belong to the context's realm. Strings given to them are well
// formed (lone surrogates already replaced by U+FFFD).
//
//   urlParse(input, base) -> record | null
//     The WHATWG URL parser: input and base are strings (base may be
//     undefined: no base). null when input (or base) fails to parse. A
//     record is {href, origin, protocol, username, password, host,
//     hostname, port, pathname, search, hash}: strings, as the URL
//     Standard's getters of the same names return them.
//   urlSet(href, name, value) -> record | null
//     The record of the URL `href` after the URL Standard's setter `name`
//     ("href", "protocol", "username", "password", "host", "hostname",
//     "port", "pathname", "search" or "hash") is given the string value. A
//     setter that cannot apply leaves the URL as it was; for "href" a value
//     that fails to parse gives null.
//   fetch(request) -> {promise, abort}
//     request is {method, url, headers: [[name, value], ...], body:
//     Uint8Array | null, redirect: "follow" | "error" | "manual"}: url
//     absolute, maybe with a fragment the host ignores; header names
//     lowercase, with `accept: */*` added when the request has no Accept (as
//     the standard's fetch does). promise resolves to {status, statusText,
//     url, redirected, headers: [[name, value], ...], body: Uint8Array}: url
//     the final one, after redirects; header values byte strings, one
//     character per byte; body the whole content, decoded as its
//     Content-Encoding says; with "manual", a redirect response as it is.
//     Or promise rejects with a TypeError whose message says why (network
//     error, origin not allowed, a limit). abort() cancels the request: the
//     promise settles no more.
//
// DOMException comes first: its module installs the global as it loads, and
// web-streams-polyfill looks it up while it loads.
import { DOMException } from "./src/dom-exception.mjs";
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from "web-streams-polyfill";
import { AbortController, AbortSignal, Event, EventTarget } from "./src/events.mjs";
import { Headers } from "./src/headers.mjs";
import { URL, URLSearchParams, useUrlHost } from "./src/url.mjs";
import { Request, Response, fetch, useFetchHost } from "./src/fetch.mjs";
import { define } from "./src/define.mjs";

const globals = {
  DOMException,
  Event,
  EventTarget,
  AbortController,
  AbortSignal,
  Headers,
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  URL,
  URLSearchParams,
  Request,
  Response,
  fetch,
};

export default function install(host) {
  useUrlHost(host);
  useFetchHost(host);
  for (const [name, value] of Object.entries(globals)) {
    // The bundler renames a class whose name a package also reads as a
    // global (web-streams-polyfill's `typeof AbortController`); the
    // interface keeps its name.
    if (value.name !== name) Object.defineProperty(value, "name", { value: name, configurable: true });
    define(globalThis, name, value);
  }
}
