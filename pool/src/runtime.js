// The render runtime's JavaScript surface: the Web APIs react-dom/server
// needs, built on natives the worker provides. Evaluated once per context,
// before the bundle. `natives` is never reachable from bundle code.
(function (natives) {
  "use strict";
  const global = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // console -> the service log, tagged with the component being rendered.
  const levels = { debug: 0, log: 1, info: 1, warn: 2, error: 3, trace: 0 };
  const describe = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack || String(value);
    try {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch (_) {
      try { return String(value); } catch (_) { return "[unprintable]"; }
    }
  };
  const console = {};
  for (const name of Object.keys(levels)) {
    const level = levels[name];
    define(console, name, function (...args) {
      let text = "";
      for (let i = 0; i < args.length; i++) text += (i ? " " : "") + describe(args[i]);
      natives.log(level, text);
    });
  }
  for (const name of ["table", "dir", "group", "groupEnd", "time", "timeEnd", "assert", "count"]) {
    define(console, name, function () {});
  }
  define(global, "console", console);

  // Timers. The host keeps ids and due times; callbacks and their arguments
  // stay here, on the JS heap, so the heap limit counts them. The worker
  // fires them while a render's promise is pending and drops whatever is
  // left when the render ends.
  const timers = new Map();
  const addTimer = (callback, delay, repeat, args) => {
    const id = natives.setTimer(+delay || 0, repeat);
    timers.set(id, { callback, args, repeat });
    return id;
  };
  const checkCallback = (callback, what) => {
    // Browsers accept a string to eval here; this runtime does not eval.
    if (typeof callback !== "function") throw new TypeError(`${what}: callback must be a function`);
  };
  const clearTimer = (id) => {
    id = +id || 0;
    if (timers.delete(id)) natives.clearTimer(id);
  };
  define(global, "setTimeout", function setTimeout(callback, delay, ...args) {
    checkCallback(callback, "setTimeout");
    return addTimer(callback, delay, false, args);
  });
  define(global, "setInterval", function setInterval(callback, delay, ...args) {
    checkCallback(callback, "setInterval");
    return addTimer(callback, delay, true, args);
  });
  define(global, "clearTimeout", function clearTimeout(id) { clearTimer(id); });
  define(global, "clearInterval", function clearInterval(id) { clearTimer(id); });
  define(global, "queueMicrotask", function queueMicrotask(callback) {
    if (typeof callback !== "function") throw new TypeError("queueMicrotask: callback is not a function");
    natives.queueMicrotask(callback);
  });
  const fireTimer = (id) => {
    const timer = timers.get(id);
    if (timer === undefined) return;
    if (!timer.repeat) timers.delete(id);
    const { callback, args } = timer;
    callback(...args);
  };
  // Forgets the callbacks of the timers a render left (all when no ids).
  const dropTimers = (ids) => {
    if (ids === undefined) timers.clear();
    else for (let i = 0; i < ids.length; i++) timers.delete(ids[i]);
  };

  // performance.now(): milliseconds since the isolate started.
  define(global, "performance", Object.freeze({ now: natives.now, get timeOrigin() { return natives.timeOrigin(); } }));

  // TextEncoder / TextDecoder (UTF-8 only, as the Encoding Standard's
  // encoder is).
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") {
      // Allocated here so the buffer counts against the isolate's budget
      // (and a refused allocation is a RangeError, as for any typed array).
      const text = String(input);
      const bytes = new Uint8Array(natives.utf8Length(text));
      natives.encodeInto(text, bytes);
      return bytes;
    }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("encodeInto: destination must be a Uint8Array");
      const [read, written] = natives.encodeInto(String(source), destination);
      return { read, written };
    }
  }
  class TextDecoder {
    #fatal; #ignoreBOM;
    constructor(label = "utf-8", options = {}) {
      const name = String(label).trim().toLowerCase();
      if (name !== "utf-8" && name !== "utf8" && name !== "unicode-1-1-utf-8") {
        throw new RangeError(`TextDecoder: encoding "${label}" is not supported`);
      }
      this.#fatal = !!(options && options.fatal);
      this.#ignoreBOM = !!(options && options.ignoreBOM);
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, options) {
      if (input === undefined) return "";
      let view;
      if (input instanceof ArrayBuffer) view = new Uint8Array(input);
      else if (ArrayBuffer.isView(input)) view = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
      else throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or a view of one");
      return natives.decode(view, this.#fatal, this.#ignoreBOM);
    }
  }
  // MessageChannel: react-dom/server's browser build creates one at load
  // and schedules streaming work through it. A message is delivered as a
  // macrotask (like a zero-delay timer) to the other port's onmessage.
  class MessagePort {
    #other = null;
    #listeners = [];
    onmessage = null;
    static link(a, b) { a.#other = b; b.#other = a; }
    postMessage(data) {
      const target = this.#other;
      if (target === null) return;
      addTimer(() => target.#deliver(data), 0, false, []);
    }
    #deliver(data) {
      const event = { data, target: this, type: "message" };
      if (typeof this.onmessage === "function") this.onmessage(event);
      for (const listener of this.#listeners.slice()) listener.call(this, event);
    }
    addEventListener(type, listener) {
      if (type === "message" && typeof listener === "function") this.#listeners.push(listener);
    }
    removeEventListener(type, listener) {
      if (type === "message") this.#listeners = this.#listeners.filter((l) => l !== listener);
    }
    start() {}
    close() {
      if (this.#other !== null) { this.#other.#other = null; this.#other = null; }
    }
  }
  class MessageChannel {
    constructor() {
      const port1 = new MessagePort();
      const port2 = new MessagePort();
      MessagePort.link(port1, port2);
      Object.defineProperty(this, "port1", { value: port1, enumerable: true });
      Object.defineProperty(this, "port2", { value: port2, enumerable: true });
    }
  }
  define(global, "MessageChannel", MessageChannel);
  define(global, "TextEncoder", TextEncoder);
  define(global, "TextDecoder", TextDecoder);
  define(global, "self", global);
  // WebAssembly memories are allocated outside the heap and the buffer
  // budget, where no limit of this runtime reaches them: not offered.
  delete global.WebAssembly;

  // Number.prototype.toLocaleString is specified as formatting with
  // `new Intl.NumberFormat(locales, options)`. This V8 builds a new ICU
  // formatter on every call; keeping one formatter per (locales, options)
  // gives the same output at a fraction of the cost.
  const nativeToLocaleString = Number.prototype.toLocaleString;
  const NumberFormat = Intl.NumberFormat;
  const format = Object.getOwnPropertyDescriptor(NumberFormat.prototype, "format").get;
  const formatters = new Map();
  const MAX_FORMATTERS = 256;
  const keyOf = (locales, options) => {
    let key;
    if (locales === undefined) key = "";
    else if (typeof locales === "string") key = locales;
    else return null;
    if (options === undefined) return key;
    if (options === null || typeof options !== "object" || Object.getPrototypeOf(options) !== Object.prototype) return null;
    // Only plain data options: anything with getters or odd values takes the
    // specified slow path so its side effects happen as specified.
    const names = Object.keys(options);
    let suffix = "";
    for (let i = 0; i < names.length; i++) {
      const d = Object.getOwnPropertyDescriptor(options, names[i]);
      if (!("value" in d)) return null;
      const v = d.value;
      const t = typeof v;
      if (t !== "string" && t !== "number" && t !== "boolean" && v !== undefined) return null;
      suffix += "\u0000" + names[i] + "\u0001" + t + ":" + String(v);
    }
    return key + suffix;
  };
  define(Number.prototype, "toLocaleString", {
    toLocaleString(locales, options) {
      const x = typeof this === "number" ? this : (this instanceof Number ? this.valueOf() : null);
      if (x === null) return Reflect.apply(nativeToLocaleString, this, arguments);
      const key = keyOf(locales, options);
      if (key === null) return Reflect.apply(nativeToLocaleString, x, arguments);
      let bound = formatters.get(key);
      if (bound === undefined) {
        bound = Reflect.apply(format, new NumberFormat(locales, options), []);
        if (formatters.size >= MAX_FORMATTERS) formatters.clear();
        formatters.set(key, bound);
      }
      return bound(x);
    },
  }.toLocaleString);

  // The bundle contract: SsrPool.register(name, render).
  const SsrPool = Object.freeze({
    register(name, render) {
      if (typeof name !== "string" || name === "") throw new TypeError("SsrPool.register: name must be a non-empty string");
      if (typeof render !== "function") throw new TypeError(`SsrPool.register: render for "${name}" must be a function`);
      natives.register(name, render);
    },
  });
  define(global, "SsrPool", SsrPool);

  // Integrity of the shared intrinsics. The worker captures them after the
  // bundle's top level ran (so load-time polyfills are part of the baseline)
  // and checks them after every render: a render that replaced any of them
  // poisons its isolate, which is then replaced.
  const watched = [
    [global, ["JSON", "Promise", "Array", "Object", "String", "Number", "Boolean", "Symbol", "Math",
      "Reflect", "Map", "Set", "WeakMap", "Error", "TypeError", "RangeError", "RegExp", "Date", "Intl",
      "Function", "TextEncoder", "TextDecoder", "setTimeout", "clearTimeout", "queueMicrotask",
      "console", "SsrPool", "encodeURIComponent", "parseInt", "parseFloat", "isNaN",
      "ReadableStream", "WritableStream", "TransformStream", "AbortController", "AbortSignal",
      "EventTarget", "Event", "Headers", "DOMException"]],
    [Array.prototype, ["map", "forEach", "filter", "push", "pop", "join", "slice", "splice", "indexOf",
      "reduce", "concat", "some", "every", "find", "findIndex", "includes", "sort", "keys", "entries"]],
    [Array, ["isArray", "from", "of"]],
    [Object, ["keys", "values", "entries", "assign", "freeze", "defineProperty", "defineProperties",
      "getPrototypeOf", "setPrototypeOf", "create", "is", "getOwnPropertyNames", "getOwnPropertyDescriptor"]],
    [Object.prototype, ["hasOwnProperty", "toString", "valueOf", "isPrototypeOf"]],
    [Function.prototype, ["call", "apply", "bind", "toString"]],
    [String.prototype, ["replace", "replaceAll", "slice", "substring", "toLowerCase", "toUpperCase", "indexOf",
      "charCodeAt", "charAt", "split", "trim", "startsWith", "endsWith", "includes", "padStart", "repeat"]],
    [String, ["fromCharCode"]],
    [JSON, ["stringify", "parse"]],
    [Promise.prototype, ["then", "catch", "finally"]],
    [Promise, ["resolve", "reject", "all", "allSettled", "race"]],
    [Map.prototype, ["get", "set", "has", "delete", "forEach"]],
    [Set.prototype, ["add", "has", "delete", "forEach"]],
    [WeakMap.prototype, ["get", "set", "has"]],
    [Number.prototype, ["toString", "toFixed", "toLocaleString"]],
    [Math, ["min", "max", "floor", "round", "random", "abs"]],
    [Symbol, ["for", "iterator", "asyncIterator"]],
  ];
  // The check reads own data properties of descriptors only: it never
  // invokes a getter or walks a prototype chain a bundle could have changed.
  const getOwn = Object.getOwnPropertyDescriptor;
  const hasOwn = Object.hasOwn;
  const getProto = Object.getPrototypeOf;
  const valueOf = (d) => (d === undefined ? undefined : hasOwn(d, "value") ? d.value : d.get);
  const captureIntrinsics = () => {
    const holders = [];
    const names = [];
    const values = [];
    for (let i = 0; i < watched.length; i++) {
      const holder = watched[i][0];
      const keys = watched[i][1];
      for (let j = 0; j < keys.length; j++) {
        holders[holders.length] = holder;
        names[names.length] = keys[j];
        values[values.length] = valueOf(getOwn(holder, keys[j]));
      }
    }
    const prototypes = [Array.prototype, Object.prototype, Function.prototype, String.prototype, Promise.prototype];
    const parents = [];
    for (let i = 0; i < prototypes.length; i++) parents[i] = getProto(prototypes[i]);
    const count = values.length;
    return function intrinsicsIntact() {
      for (let k = 0; k < count; k++) {
        if (valueOf(getOwn(holders[k], names[k])) !== values[k]) return false;
      }
      for (let i = 0; i < prototypes.length; i++) {
        if (getProto(prototypes[i]) !== parents[i]) return false;
      }
      return true;
    };
  };
  // The render driver. The host calls a component itself; what the driver
  // does is what a result that is not a string needs: settle a promise,
  // pump a stream chunk by chunk into the host's sink (waiting for demand
  // when the sink is full), abort a render at its deadline or when its
  // caller left. Each render has an id; its AbortController is made only
  // when the render reads `context.signal`.
  const controllers = new Map();
  const readers = new Map();
  const demands = new Map();
  const signalFor = (id) => {
    let controller = controllers.get(id);
    if (controller === undefined) {
      controller = new AbortController();
      controllers.set(id, controller);
    }
    return controller.signal;
  };
  // `headers`: the request headers the operator passes through to renders
  // (`--fetch-forward-headers`), by lower-case name.
  const makeContext = (id, component, headers) => {
    const context = { component, headers: Object.freeze(headers ?? {}) };
    Object.defineProperty(context, "signal", {
      get: () => signalFor(id),
      enumerable: true,
      configurable: true,
    });
    return context;
  };
  const isStream = (value) =>
    value !== null && typeof value === "object" && typeof value.getReader === "function";
  const pump = async (id, stream) => {
    const reader = stream.getReader();
    readers.set(id, reader);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!natives.chunk(id, value)) await new Promise((resolve) => demands.set(id, resolve));
      }
      natives.end(id);
    } catch (error) {
      natives.failed(id, error);
    } finally {
      readers.delete(id);
      demands.delete(id);
    }
  };
  const settle = (id, result) => {
    if (isStream(result)) {
      pump(id, result);
      return;
    }
    Promise.resolve(result).then(
      (value) => (isStream(value) ? pump(id, value) : natives.done(id, value)),
      (error) => natives.failed(id, error),
    );
  };
  const demand = (id) => {
    const resolve = demands.get(id);
    if (resolve !== undefined) {
      demands.delete(id);
      resolve();
    }
  };
  // Fires the render's signal; `cancel` also cancels the stream being
  // pumped (the caller is gone, or the render ran out of time).
  const abort = (id, reason, cancel) => {
    const controller = controllers.get(id);
    if (controller !== undefined) controller.abort(new DOMExceptionLike(reason));
    if (cancel) {
      const reader = readers.get(id);
      if (reader !== undefined) reader.cancel(reason).catch(() => {});
      demand(id);
    }
  };
  // The render is over: forget its controller, reader and demand, and its
  // fetches (`fetchIds`; the host aborted those still open).
  const forget = (id, fetchIds) => {
    controllers.delete(id);
    readers.delete(id);
    demands.delete(id);
    for (let i = 0; i < fetchIds.length; i++) fetches.delete(fetchIds[i]);
  };
  // fetch's host side (web.js builds Request, Response and fetch on it):
  // the host sends the request and settles it through `fetchSettled`; the
  // body is copied into an array made here, so it counts against the
  // render's memory like any other buffer.
  const fetches = new Map();
  const webHost = Object.freeze({
    urlParse: natives.urlParse,
    urlSet: natives.urlSet,
    fetch(request) {
      const { method, url, headers, body, redirect } = request;
      const id = natives.fetchStart(method, url, headers, body, redirect);
      const promise = new Promise((resolve, reject) => fetches.set(id, { resolve, reject }));
      const abort = () => {
        if (fetches.delete(id)) natives.fetchAbort(id);
      };
      return { promise, abort };
    },
  });
  // `response` is undefined when the fetch failed (`message` says why).
  const fetchSettled = (id, response, message) => {
    const pending = fetches.get(id);
    if (pending === undefined) return;
    fetches.delete(id);
    if (response === undefined) {
      pending.reject(new TypeError(message));
      return;
    }
    try {
      const body = new Uint8Array(response.bodyLength);
      natives.fetchBody(id, body);
      pending.resolve({ ...response, body });
    } catch (error) {
      pending.reject(error);
    }
  };
  // Before a start-up snapshot is taken of this context: drops what must
  // not be serialised (V8 cannot serialise the ICU formatters Intl objects
  // hold) or would be stale in every isolate started from it.
  const prepareSnapshot = () => {
    formatters.clear();
    timers.clear();
  };
  class DOMExceptionLike extends Error {
    constructor(message) {
      super(message);
      this.name = "AbortError";
    }
  }
  return {
    captureIntrinsics,
    fireTimer,
    dropTimers,
    makeContext,
    settle,
    demand,
    abort,
    forget,
    webHost,
    fetchSettled,
    prepareSnapshot,
  };
})
