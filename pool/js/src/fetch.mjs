// Request, Response and fetch as the Fetch Standard defines them, as far as
// a server render uses them. fetch hands the request to the host (fetch, see
// web.mjs), which does the network I/O (to the origins the operator allows)
// and returns the whole response at once. A body stays bytes in memory
// until someone asks for `body`; only then is it made a ReadableStream (a
// byte stream that gives the bytes on the first read).
//
// Not here: Blob and FormData bodies (the runtime has neither), and the
// request attributes a server has no use for (mode, credentials, cache,
// referrer, integrity, keepalive...): init members other than method,
// headers, body, redirect, signal and duplex are ignored.
import { ReadableStream } from "web-streams-polyfill";
import { AbortSignal } from "./events.mjs";
import { Headers, byteString, cloneHeaders, immutable } from "./headers.mjs";
import { URLSearchParams, parseUrl } from "./url.mjs";
import { enumerable, required, toStringTag } from "./define.mjs";

let hostFetch;

export function useFetchHost(host) {
  hostFetch = host.fetch;
}

const EMPTY = new Uint8Array(0);
const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
const REDIRECT_STATUS = [301, 302, 303, 307, 308];
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const isUint8Array = (value) => typedArrayName.call(value) === "Uint8Array";

// A non-null body: its bytes while no one asked for a stream, else its
// stream.
class Body {
  constructor(bytes, stream = null) {
    this.bytes = bytes;
    this.stream = stream;
    // Read, or taken over by another request, while it had no stream.
    this.used = false;
  }

  // A stream's [[disturbed]] (read from or cancelled) is internal to the
  // standard; web-streams-polyfill keeps it as `_disturbed`.
  get disturbed() {
    return this.used || (this.stream !== null && this.stream._disturbed === true);
  }

  get unusable() {
    return this.disturbed || (this.stream !== null && this.stream.locked);
  }

  readable() {
    if (this.stream === null) {
      this.stream = streamOf(this.bytes);
      this.bytes = null;
    }
    return this.stream;
  }

  async consume() {
    if (this.unusable) throw new TypeError("Body is unusable: Body has already been read");
    if (this.stream !== null) return readAll(this.stream);
    const bytes = this.bytes;
    this.used = true;
    this.bytes = EMPTY;
    return bytes;
  }

  // What `new Request(request)` does to the request's body: the new request
  // has it, the old one is left used.
  take() {
    const taken = new Body(this.bytes, this.stream);
    this.used = true;
    this.bytes = EMPTY;
    this.stream = null;
    return taken;
  }

  clone() {
    // The bytes are never written to, so the two bodies share them.
    if (this.stream === null) return new Body(this.bytes);
    const [mine, theirs] = this.stream.tee();
    this.stream = mine;
    return new Body(null, theirs);
  }
}

function streamOf(bytes) {
  const source = {
    type: "bytes",
    pull(controller) {
      // A copy: clones share the bytes, and enqueue transfers their buffer.
      if (bytes.byteLength > 0) controller.enqueue(bytes.slice());
      controller.close();
      // A BYOB read of an empty body waits for this.
      controller.byobRequest?.respond(0);
    },
  };
  return new ReadableStream(source, { highWaterMark: 0 });
}

async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!isUint8Array(value)) throw new TypeError("Received non-Uint8Array chunk");
    chunks.push(value);
    length += value.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const arrayBufferLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;

// Of any realm, as Web IDL's check of the internal slot is.
function isArrayBuffer(value) {
  try {
    arrayBufferLength.call(value);
    return true;
  } catch {
    return false;
  }
}

const encodeText = (text) => new TextEncoder().encode(text.toWellFormed());

// "Extract a body": a Body and the Content-Type it implies (or null).
function extract(object) {
  if (typeof object === "string") return [new Body(encodeText(object)), "text/plain;charset=UTF-8"];
  if (object instanceof ReadableStream) {
    if (object.locked || object._disturbed === true) throw new TypeError("The body stream is locked or has been read");
    return [new Body(null, object), null];
  }
  if (object instanceof URLSearchParams) {
    const text = URLSearchParams.prototype.toString.call(object);
    return [new Body(encodeText(text)), "application/x-www-form-urlencoded;charset=UTF-8"];
  }
  // Buffers are copied: the body does not change when they do.
  if (ArrayBuffer.isView(object)) {
    return [new Body(new Uint8Array(object.buffer, object.byteOffset, object.byteLength).slice()), null];
  }
  if (object !== null && typeof object === "object" && isArrayBuffer(object)) {
    return [new Body(new Uint8Array(object).slice()), null];
  }
  return [new Body(encodeText(`${object}`)), "text/plain;charset=UTF-8"];
}

// The internal state of each Request (method, url, headers, redirect,
// signal, body) and Response (type, status, statusText, url, redirected,
// headers, body); body is a Body or null.
const requests = new WeakMap();
const responses = new WeakMap();

function stateOf(object) {
  const state = requests.get(object) ?? responses.get(object);
  if (state === undefined) throw new TypeError("Illegal invocation");
  return state;
}

function requestOf(object) {
  const state = requests.get(object);
  if (state === undefined) throw new TypeError("Request: Illegal invocation");
  return state;
}

function responseOf(object) {
  const state = responses.get(object);
  if (state === undefined) throw new TypeError("Response: Illegal invocation");
  return state;
}

function wrap(prototype, states, state) {
  const object = Object.create(prototype);
  states.set(object, state);
  return object;
}

// The Body mixin, on both prototypes.
const BodyMixin = {
  get body() {
    const { body } = stateOf(this);
    return body === null ? null : body.readable();
  },
  get bodyUsed() {
    const { body } = stateOf(this);
    return body !== null && body.disturbed;
  },
  // Copies: the bytes may be shared with a clone, or be a chunk of the
  // caller's stream.
  async arrayBuffer() {
    return (await consume(this)).slice().buffer;
  },
  async bytes() {
    return (await consume(this)).slice();
  },
  async json() {
    return JSON.parse(new TextDecoder().decode(await consume(this)));
  },
  async text() {
    return new TextDecoder().decode(await consume(this));
  },
};

// The bytes of the body, which is then used; none for a null body.
function consume(object) {
  const { body } = stateOf(object);
  return body === null ? Promise.resolve(EMPTY) : body.consume();
}

// Web IDL dictionaries: undefined and null are empty, other non-objects throw.
function dictionary(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" && typeof value !== "function") throw new TypeError(`${what} must be an object`);
  return value;
}

// Web IDL unsigned short: modulo 2^16.
function unsignedShort(value) {
  const number = Math.trunc(+value);
  return Number.isFinite(number) ? ((number % 65536) + 65536) % 65536 : 0;
}

function normalizeMethod(method) {
  if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method.`);
  const upper = method.toUpperCase();
  if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") {
    throw new TypeError(`'${method}' HTTP method is unsupported.`);
  }
  return ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].includes(upper) ? upper : method;
}

function redirectMode(value) {
  const mode = `${value}`;
  if (mode !== "follow" && mode !== "error" && mode !== "manual") {
    throw new TypeError(`RequestInit: redirect must be "follow", "error" or "manual", not "${mode}"`);
  }
  return mode;
}

// The state of a request to `input` (a URL) with nothing else given.
function requestTo(input) {
  const url = `${input}`;
  const record = parseUrl(url);
  if (record === null) throw new TypeError(`Failed to parse URL from ${url}`);
  if (record.username !== "" || record.password !== "") {
    throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${url}`);
  }
  return { method: "GET", url: record.href, headers: null, redirect: "follow", signal: null, body: null };
}

function newRequest(input, init) {
  // Each member read once, in the order Web IDL reads them.
  const { body: initBody = null, duplex, headers, method, redirect, signal } = init;
  const source = requests.get(input);
  const request = source === undefined ? requestTo(input) : { ...source };
  if (method !== undefined) request.method = normalizeMethod(byteString(method, "RequestInit.method"));
  if (redirect !== undefined) request.redirect = redirectMode(redirect);
  const follows = signal === undefined ? request.signal : signal;
  if (follows !== null && !(follows instanceof AbortSignal)) throw new TypeError("RequestInit: signal must be an AbortSignal");
  // The request's own signal, which follows the given one.
  request.signal = AbortSignal.any(follows === null ? [] : [follows]);
  if (headers !== undefined) request.headers = new Headers(headers);
  else request.headers = request.headers === null ? new Headers() : cloneHeaders(request.headers);

  if ((initBody !== null || request.body !== null) && (request.method === "GET" || request.method === "HEAD")) {
    throw new TypeError("Request with GET/HEAD method cannot have body.");
  }
  if (initBody !== null) {
    const [body, type] = extract(initBody);
    if (body.stream !== null && duplex !== "half") {
      throw new TypeError("RequestInit: duplex option is required when sending a body.");
    }
    if (type !== null && !request.headers.has("content-type")) request.headers.append("content-type", type);
    request.body = body;
  } else if (request.body !== null) {
    if (request.body.unusable) throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
    request.body = request.body.take();
  }
  return request;
}

export class Request {
  constructor(input, init = undefined) {
    required("Request constructor", arguments.length, 1);
    requests.set(this, newRequest(input, dictionary(init, "RequestInit")));
  }

  get method() {
    return requestOf(this).method;
  }

  get url() {
    return requestOf(this).url;
  }

  get headers() {
    return requestOf(this).headers;
  }

  get redirect() {
    return requestOf(this).redirect;
  }

  get signal() {
    return requestOf(this).signal;
  }

  clone() {
    const state = requestOf(this);
    if (state.body !== null && state.body.unusable) throw new TypeError("Request.clone: Body has already been consumed.");
    return wrap(Request.prototype, requests, {
      ...state,
      headers: cloneHeaders(state.headers),
      signal: AbortSignal.any([state.signal]),
      body: state.body === null ? null : state.body.clone(),
    });
  }
}

// The state of a response per `init`, with `extracted` as its body.
function newResponse(init, extracted) {
  const { headers: headersInit, status: statusInit, statusText: statusTextInit } = init;
  const status = statusInit === undefined ? 200 : unsignedShort(statusInit);
  if (status < 200 || status > 599) throw new RangeError('init["status"] must be in the range of 200 to 599, inclusive.');
  const statusText = statusTextInit === undefined ? "" : byteString(statusTextInit, "ResponseInit.statusText");
  if (!REASON_PHRASE.test(statusText)) throw new TypeError("Invalid statusText");
  const headers = new Headers(headersInit);
  let body = null;
  if (extracted !== null) {
    if (NULL_BODY_STATUS.includes(status)) throw new TypeError(`Response constructor: Invalid response status code ${status}`);
    const [extractedBody, type] = extracted;
    if (type !== null && !headers.has("content-type")) headers.append("content-type", type);
    body = extractedBody;
  }
  return { type: "default", status, statusText, headers, url: "", redirected: false, body };
}

export class Response {
  constructor(body = null, init = undefined) {
    responses.set(this, newResponse(dictionary(init, "ResponseInit"), body === null ? null : extract(body)));
  }

  static error() {
    return wrap(Response.prototype, responses, {
      type: "error", status: 0, statusText: "", headers: immutable(new Headers()), url: "", redirected: false, body: null,
    });
  }

  static json(data, init = undefined) {
    required("Response.json", arguments.length, 1);
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Value is not JSON serializable");
    const state = newResponse(dictionary(init, "ResponseInit"), [new Body(encodeText(text)), "application/json"]);
    return wrap(Response.prototype, responses, state);
  }

  static redirect(url, status = 302) {
    required("Response.redirect", arguments.length, 1);
    const record = parseUrl(url);
    if (record === null) throw new TypeError(`Failed to parse URL from ${url}`);
    status = unsignedShort(status);
    if (!REDIRECT_STATUS.includes(status)) throw new RangeError(`Invalid status code ${status}`);
    return wrap(Response.prototype, responses, {
      type: "default", status, statusText: "", headers: immutable(new Headers([["location", record.href]])), url: "", redirected: false, body: null,
    });
  }

  get type() {
    return responseOf(this).type;
  }

  get url() {
    return responseOf(this).url;
  }

  get redirected() {
    return responseOf(this).redirected;
  }

  get status() {
    return responseOf(this).status;
  }

  get ok() {
    const { status } = responseOf(this);
    return status >= 200 && status <= 299;
  }

  get statusText() {
    return responseOf(this).statusText;
  }

  get headers() {
    return responseOf(this).headers;
  }

  clone() {
    const state = responseOf(this);
    if (state.body !== null && state.body.unusable) throw new TypeError("Response.clone: Body has already been consumed.");
    return wrap(Response.prototype, responses, {
      ...state,
      headers: cloneHeaders(state.headers),
      body: state.body === null ? null : state.body.clone(),
    });
  }
}

for (const [constructor, name, members] of [
  [Request, "Request", ["method", "url", "headers", "redirect", "signal", "clone"]],
  [Response, "Response", ["type", "url", "redirected", "status", "ok", "statusText", "headers", "clone"]],
]) {
  Object.defineProperties(constructor.prototype, Object.getOwnPropertyDescriptors(BodyMixin));
  enumerable(constructor.prototype, members);
  toStringTag(constructor.prototype, name);
}
enumerable(Response, ["error", "json", "redirect"]);

export function fetch(input, init = undefined) {
  try {
    return send(requestOf(new Request(input, init)));
  } catch (error) {
    return Promise.reject(error);
  }
}

// Reads the request's body, hands the request to the host and makes the
// response of its record. The request's signal rejects the promise with its
// reason and cancels the host's request.
function send(request) {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    let cancel = null;
    const onAbort = () => {
      cancel?.();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const bytes = request.body === null ? Promise.resolve(null) : request.body.consume();
    bytes
      .then((body) => {
        if (signal.aborted) return;
        const { method, url, headers, redirect } = request;
        const { promise, abort } = hostFetch({ method, url, headers: headerList(headers), body, redirect });
        cancel = abort;
        return promise.then((record) => resolve(fetched(request, record)));
      })
      .catch(reject)
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
}

// The standard's fetch sends `Accept: */*` with a request that has no Accept.
function headerList(headers) {
  const list = [...headers];
  if (!headers.has("accept")) list.push(["accept", "*/*"]);
  return list;
}

// The Response of the host's record. The whole body came with it, so an
// abort after this changes nothing.
function fetched(request, record) {
  const nullBody = request.method === "HEAD" || NULL_BODY_STATUS.includes(record.status);
  const hash = record.url.indexOf("#");
  return wrap(Response.prototype, responses, {
    type: "basic",
    status: record.status,
    statusText: record.statusText,
    url: hash === -1 ? record.url : record.url.slice(0, hash),
    redirected: record.redirected,
    headers: immutable(new Headers(record.headers)),
    body: nullBody ? null : new Body(record.body),
  });
}
