// Node reference runtime for server bundles.
//
// Runs a bundle (a classic script) in a fresh `node:vm` context that exposes
// the same globals as the SSR service, and nothing else besides the ECMAScript
// built-ins of a new V8 context (Intl included):
//
//   console (log/info/warn/error/debug)   -> all write to stderr by default
//   setTimeout/clearTimeout/setInterval/clearInterval (numeric ids)
//   queueMicrotask
//   TextEncoder, TextDecoder (utf-8 only; other labels throw RangeError)
//   MessageChannel (messages delivered as zero-delay timer tasks)
//   performance.now()
//   globalThis / self
//   SsrPool.register(name, render)
//
// With the `web` option, pool/src/web.js (the Web APIs: streams,
// EventTarget, AbortController, Headers, URL, fetch...) is evaluated in the
// context first and its function called with a host made of Node's URL and
// fetch (webHost below), as the service does with its own host.
//
// `render(props, context)` is called with `props` parsed from JSON inside the
// bundle's context (so it is a plain object of that realm) and
// `context = { component: name }`. It must return a string or a Promise of a
// string.
//
// The host objects are Node's own (wrapped where the contract is narrower),
// so values they return come from the main Node realm, e.g.
// `new TextEncoder().encode("x") instanceof Uint8Array` is false inside the
// bundle.
//
// Error convention (describeError, same as the service): for a thrown object,
// `name` is String(value.name) (or "Error" when absent or when reading it
// throws) and `message` is String(value.message) (falling back to
// String(value), then to "[value that cannot be converted to a string]").
// For a thrown primitive, `name` is its type ("string", "number", ...; "null"
// for null) and `message` is String(value).

import vm from "node:vm";
import { readFileSync } from "node:fs";
import { Console } from "node:console";
import { types } from "node:util";
import { performance as nodePerformance } from "node:perf_hooks";

const UTF8_LABELS = new Set([
  "unicode-1-1-utf-8",
  "unicode11utf8",
  "unicode20utf8",
  "utf-8",
  "utf8",
  "x-unicode20utf8",
]);

/** The streaming Web APIs the service evaluates before a bundle. */
export const WEB_JS = new URL("../../pool/src/web.js", import.meta.url);

const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });

function makeConsole(target) {
  // Exactly the five methods of the contract, bound to a Node console.
  return {
    log: (...args) => target.log(...args),
    info: (...args) => target.info(...args),
    warn: (...args) => target.warn(...args),
    error: (...args) => target.error(...args),
    debug: (...args) => target.debug(...args),
  };
}

class Utf8TextDecoder extends globalThis.TextDecoder {
  constructor(label = "utf-8", options = undefined) {
    const normalized = String(label).trim().toLowerCase();
    if (!UTF8_LABELS.has(normalized)) {
      throw new RangeError(`TextDecoder: unsupported encoding "${label}" (only utf-8 is available)`);
    }
    super("utf-8", options);
  }
}
Object.defineProperty(Utf8TextDecoder, "name", { value: "TextDecoder" });

function createTimers(reportError) {
  const active = new Map();
  let nextId = 1;

  function invoke(callback, args) {
    try {
      callback(...args);
    } catch (error) {
      reportError(error);
    }
  }

  function delayOf(ms) {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }

  function checkCallback(fn, what) {
    if (typeof fn !== "function") throw new TypeError(`${what}: callback must be a function`);
  }

  return {
    setTimeout(callback, ms, ...args) {
      checkCallback(callback, "setTimeout");
      const id = nextId++;
      const handle = setTimeout(() => {
        active.delete(id);
        invoke(callback, args);
      }, delayOf(ms));
      active.set(id, handle);
      return id;
    },
    setInterval(callback, ms, ...args) {
      checkCallback(callback, "setInterval");
      const id = nextId++;
      const handle = setInterval(() => invoke(callback, args), delayOf(ms));
      active.set(id, handle);
      return id;
    },
    clear(id) {
      const handle = active.get(id);
      if (handle !== undefined) {
        clearTimeout(handle); // clears intervals too
        active.delete(id);
      }
    },
    get pending() {
      return active.size;
    },
    dispose() {
      for (const handle of active.values()) clearTimeout(handle);
      active.clear();
    },
  };
}

// MessageChannel as the service provides it: a message reaches the other
// port's onmessage (and "message" listeners) as a zero-delay timer task.
function createMessageChannelClass(timers) {
  const peers = new WeakMap();
  class MessagePort {
    constructor() {
      this.onmessage = null;
      this._listeners = [];
    }
    postMessage(data) {
      const target = peers.get(this);
      if (!target) return;
      timers.setTimeout(() => {
        const event = { data, target, type: "message" };
        if (typeof target.onmessage === "function") target.onmessage(event);
        for (const listener of target._listeners.slice()) listener.call(target, event);
      }, 0);
    }
    addEventListener(type, listener) {
      if (type === "message" && typeof listener === "function") this._listeners.push(listener);
    }
    removeEventListener(type, listener) {
      if (type === "message") this._listeners = this._listeners.filter((l) => l !== listener);
    }
    start() {}
    close() {
      const other = peers.get(this);
      if (other) peers.delete(other);
      peers.delete(this);
    }
  }
  return class MessageChannel {
    constructor() {
      this.port1 = new MessagePort();
      this.port2 = new MessagePort();
      peers.set(this.port1, this.port2);
      peers.set(this.port2, this.port1);
    }
  };
}

const URL_COMPONENTS = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

function urlRecord(url) {
  return Object.fromEntries(URL_COMPONENTS.map((name) => [name, url[name]]));
}

// new URL, not URL.parse, which Node 20 has only from 20.18 on.
function parseUrl(input, base) {
  try {
    return urlRecord(new URL(input, base));
  } catch {
    return null;
  }
}

// The host pool/src/web.js takes (its contract is at the top of
// pool/js/web.mjs), made of Node's URL and fetch. The bytes and errors it
// hands over are made in the context's realm (`realm`), as the service's
// are.
function webHost(realm) {
  return {
    urlParse: parseUrl,
    urlSet(href, name, value) {
      if (name === "href") return parseUrl(value);
      const url = new URL(href);
      url[name] = value;
      return urlRecord(url);
    },
    fetch(request) {
      const controller = new AbortController();
      const response = fetchWhole(request, controller.signal);
      const promise = new Promise((resolve, reject) => {
        response.then(
          (record) => {
            if (!controller.signal.aborted) resolve({ ...record, body: realm.bytes(record.body) });
          },
          (error) => {
            if (!controller.signal.aborted) reject(realm.typeError(fetchFailure(error)));
          },
        );
      });
      return { promise, abort: () => controller.abort() };
    },
  };
}

async function fetchWhole({ method, url, headers, body, redirect }, signal) {
  const init = { method, headers, redirect, signal, body: body === null ? null : new Uint8Array(body) };
  const response = await fetch(url, init);
  return {
    status: response.status,
    statusText: response.statusText,
    url: response.url,
    redirected: response.redirected,
    headers: [...response.headers],
    body: new Uint8Array(await response.arrayBuffer()),
  };
}

// Node's "fetch failed" says why in its cause.
function fetchFailure(error) {
  const cause = error?.cause?.message;
  return cause === undefined ? String(error?.message ?? error) : `${error.message}: ${cause}`;
}

const UNPRINTABLE = "[value that cannot be converted to a string]";

// ToString(value) (throws for symbols and for objects whose conversion
// throws), or a placeholder.
function describe(value) {
  try {
    return `${value}`;
  } catch {
    return UNPRINTABLE;
  }
}

// ToString(object[key]), or undefined when it is undefined or reading or
// converting it throws.
function stringProperty(object, key) {
  try {
    const value = object[key];
    return value === undefined ? undefined : `${value}`;
  } catch {
    return undefined;
  }
}

/** `{name, message}` of any thrown value, the way the service reports it; never throws. */
export function describeError(value) {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    return {
      name: stringProperty(value, "name") ?? "Error",
      message: stringProperty(value, "message") ?? describe(value),
    };
  }
  return { name: value === null ? "null" : typeof value, message: describe(value) };
}

/**
 * Evaluates `code` in a fresh context.
 *
 * Options:
 *   filename  - script name for stack traces (default "bundle.js")
 *   console   - object with log/info/warn/error/debug the bundle's console
 *               forwards to (default: a Node Console writing to stderr)
 *   onTimerError(error) - called when a timer callback throws (default:
 *               print to stderr)
 *   web       - true: also evaluate pool/src/web.js (the Web APIs) after
 *               the contract globals, before `prepare` and the bundle, and
 *               call its function with a host of Node's URL and fetch; an
 *               object: the same, its functions replacing the host's of the
 *               same names (default false)
 *   prepare(global) - called with the context's global object after the
 *               contract globals are installed and before the bundle runs
 *               (used by probe-globals.mjs to plant tracing getters)
 *
 * Throws whatever the bundle throws while loading.
 */
export function loadBundle(code, options = {}) {
  const { filename = "bundle.js", console: consoleTarget = stderrConsole } = options;
  const onTimerError =
    options.onTimerError ??
    ((error) => {
      const { name, message } = describeError(error);
      process.stderr.write(`uncaught error in timer callback: ${name}: ${message}\n`);
    });

  const components = new Map();
  const timers = createTimers(onTimerError);

  const SsrPool = {
    register(name, render) {
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeError("SsrPool.register: name must be a non-empty string");
      }
      if (typeof render !== "function") {
        throw new TypeError(`SsrPool.register: render for "${name}" must be a function`);
      }
      components.set(name, render); // registering a name again: the later render wins
    },
  };

  // DONT_CONTEXTIFY (Node >= 20.18 / 22.8) gives the context an ordinary
  // global object. A classic contextified global routes every global lookup
  // (`Math`, `Object`, ...) through interceptor callbacks, ~100x slower per
  // lookup, which distorts the render-speed baseline.
  const context = vm.createContext(vm.constants?.DONT_CONTEXTIFY ?? {}, { name: filename });
  // Captured before the bundle runs, so a bundle that overwrites
  // globalThis.JSON cannot interfere with how props reach it (the service
  // parses props with V8's built-in JSON parser as well).
  const realm = vm.runInContext(
    `(() => {
      const parse = JSON.parse;
      return {
        parse: (text) => parse(text),
        makeContext: (component) => ({ component }),
        define(name, value) {
          Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
        },
        bytes: (view) => new Uint8Array(view),
        typeError: (message) => new TypeError(message),
      };
    })()`,
    context,
  );

  const globals = {
    console: makeConsole(consoleTarget),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clear,
    setInterval: timers.setInterval,
    clearInterval: timers.clear,
    queueMicrotask: (callback) => queueMicrotask(callback),
    TextEncoder: globalThis.TextEncoder,
    TextDecoder: Utf8TextDecoder,
    MessageChannel: createMessageChannelClass(timers),
    performance: { now: () => nodePerformance.now() },
    SsrPool,
  };
  for (const [name, value] of Object.entries(globals)) realm.define(name, value);
  vm.runInContext("globalThis.self = globalThis;", context);
  if (options.web) {
    const install = new vm.Script(readFileSync(WEB_JS, "utf8"), { filename: "web.js" }).runInContext(context);
    install({ ...webHost(realm), ...(typeof options.web === "object" ? options.web : {}) });
  }
  if (options.prepare) options.prepare(vm.runInContext("globalThis", context));

  new vm.Script(code, { filename }).runInContext(context);

  async function render(name, props) {
    const fn = components.get(name);
    if (fn === undefined) throw new Error(`Component "${name}" not registered`);
    const json = JSON.stringify(props === undefined ? {} : props);
    return renderJson(fn, name, json);
  }

  // Like render(), but takes props as JSON text and returns the string
  // synchronously when the component does not return a Promise.
  function renderJsonSync(name, json) {
    const fn = components.get(name);
    if (fn === undefined) throw new Error(`Component "${name}" not registered`);
    return renderJson(fn, name, json);
  }

  function renderJson(fn, name, json) {
    const result = fn(realm.parse(json), realm.makeContext(name));
    if (typeof result === "string") return result;
    if (types.isPromise(result)) {
      return Promise.resolve(result).then((html) => {
        if (typeof html !== "string") throw new TypeError(`render of "${name}" resolved to ${typeof html}, expected a string`);
        return html;
      });
    }
    throw new TypeError(`render of "${name}" returned ${result === null ? "null" : typeof result}, expected a string or a Promise`);
  }

  return {
    components,
    render,
    renderJsonSync,
    context,
    /** Number of timers/intervals the bundle has scheduled and not cleared. */
    get pendingTimers() {
      return timers.pending;
    },
    /** Cancels every timer the bundle scheduled. */
    dispose() {
      timers.dispose();
    },
  };
}
