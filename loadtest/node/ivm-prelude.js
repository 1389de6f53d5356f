// Runs inside each isolated-vm isolate before the bundle (see ivm-server.mjs).
// It installs the globals of the bundle contract, implemented in the isolate:
//
//   console (log/info/warn/error/debug)  -> forwarded to the host (stderr)
//   setTimeout/clearTimeout/setInterval/clearInterval
//        the callbacks stay in the isolate; the host only keeps the clock:
//        `schedule(id, ms)` asks it to call `fire(id)` back after ms
//   queueMicrotask, TextEncoder, TextDecoder (utf-8), MessageChannel,
//   performance.now() (the host's clock), self, SsrPool.register
//
// The host passes its callbacks in `globalThis.__ssrHost` (removed here) and
// keeps references to the functions of the object this script evaluates to:
//
//   render(name, propsJson) -> html string, a Promise of one, or
//       {unknown: true} | {threw: {name, message}} | {notAString: type}
//       (failures are values, so the host gets them without a throw)
//   fire(id)        runs the timer `id` if it is still pending
//   dropTimers()    forgets every pending timer
//
// Timers still pending when a render settles are dropped, as the service does.

(() => {
  "use strict";
  const host = globalThis.__ssrHost;
  delete globalThis.__ssrHost;
  const { log: hostLog, schedule: hostSchedule, now: hostNow } = host;

  // Built-ins captured before the bundle can replace them.
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const NativePromise = Promise;
  const promiseThen = Promise.prototype.then;
  const fromCharCode = String.fromCharCode;

  function define(name, value) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // ---- errors -------------------------------------------------------------

  const UNPRINTABLE = "[value that cannot be converted to a string]";
  function describe(value) {
    try {
      return `${value}`;
    } catch {
      return UNPRINTABLE;
    }
  }
  function stringProperty(object, key) {
    try {
      const value = object[key];
      return value === undefined ? undefined : `${value}`;
    } catch {
      return undefined;
    }
  }
  // Same convention as describeError in tests/node/runtime.mjs.
  function describeError(value) {
    if (value !== null && (typeof value === "object" || typeof value === "function")) {
      return {
        name: stringProperty(value, "name") ?? "Error",
        message: stringProperty(value, "message") ?? describe(value),
      };
    }
    return { name: value === null ? "null" : typeof value, message: describe(value) };
  }

  // ---- console ------------------------------------------------------------

  function format(value) {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack ? String(value.stack) : describe(value);
    if (value !== null && typeof value === "object") {
      try {
        const text = stringify(value);
        if (text !== undefined) return text;
      } catch {
        // circular or throwing toJSON: fall through
      }
    }
    return describe(value);
  }
  const console = {};
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    console[level] = (...args) => {
      hostLog(level, args.map(format).join(" "));
    };
  }
  define("console", console);

  // ---- timers -------------------------------------------------------------

  const timers = new Map(); // id -> {callback, args, interval, ms}
  let nextTimerId = 1;

  function reportTimerError(error) {
    const { name, message } = describeError(error);
    hostLog("error", `uncaught error in timer callback: ${name}: ${message}`);
  }
  function delayOf(ms) {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }
  function addTimer(callback, ms, args, interval, what) {
    if (typeof callback !== "function") throw new TypeError(`${what}: callback must be a function`);
    const id = nextTimerId++;
    const delay = delayOf(ms);
    timers.set(id, { callback, args, interval, ms: delay });
    hostSchedule(id, delay);
    return id;
  }
  function fire(id) {
    const timer = timers.get(id);
    if (timer === undefined) return; // cleared or dropped meanwhile
    if (timer.interval) hostSchedule(id, timer.ms);
    else timers.delete(id);
    try {
      timer.callback(...timer.args);
    } catch (error) {
      reportTimerError(error);
    }
  }
  function clearTimer(id) {
    timers.delete(id);
  }
  function dropTimers() {
    timers.clear();
  }

  define("setTimeout", function setTimeout(callback, ms, ...args) {
    return addTimer(callback, ms, args, false, "setTimeout");
  });
  define("setInterval", function setInterval(callback, ms, ...args) {
    return addTimer(callback, ms, args, true, "setInterval");
  });
  define("clearTimeout", function clearTimeout(id) {
    clearTimer(id);
  });
  define("clearInterval", function clearInterval(id) {
    clearTimer(id);
  });

  const resolved = NativePromise.resolve();
  define("queueMicrotask", function queueMicrotask(callback) {
    if (typeof callback !== "function") throw new TypeError("queueMicrotask: callback must be a function");
    promiseThen.call(resolved, () => {
      try {
        callback();
      } catch (error) {
        reportTimerError(error);
      }
    });
  });

  // ---- performance --------------------------------------------------------

  define("performance", { now: () => hostNow() });

  // ---- TextEncoder / TextDecoder (UTF-8) ----------------------------------

  const UTF8_LABELS = new Set([
    "unicode-1-1-utf-8",
    "unicode11utf8",
    "unicode20utf8",
    "utf-8",
    "utf8",
    "x-unicode20utf8",
  ]);

  // UTF-8 bytes of `s` into `out` from `at`; stops before a character that
  // does not fit in `limit`. Returns [utf16 units read, bytes written].
  function encodeUtf8(s, out, at, limit) {
    let i = 0;
    let w = at;
    const n = s.length;
    while (i < n) {
      let c = s.charCodeAt(i);
      let units = 1;
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          units = 2;
        } else {
          c = 0xfffd; // lone surrogate
        }
      }
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (w + size > limit) break;
      if (size === 1) {
        out[w++] = c;
      } else if (size === 2) {
        out[w++] = 0xc0 | (c >> 6);
        out[w++] = 0x80 | (c & 0x3f);
      } else if (size === 3) {
        out[w++] = 0xe0 | (c >> 12);
        out[w++] = 0x80 | ((c >> 6) & 0x3f);
        out[w++] = 0x80 | (c & 0x3f);
      } else {
        out[w++] = 0xf0 | (c >> 18);
        out[w++] = 0x80 | ((c >> 12) & 0x3f);
        out[w++] = 0x80 | ((c >> 6) & 0x3f);
        out[w++] = 0x80 | (c & 0x3f);
      }
      i += units;
    }
    return [i, w - at];
  }

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      const s = `${input}`;
      const buffer = new Uint8Array(s.length * 3);
      const [, written] = encodeUtf8(s, buffer, 0, buffer.length);
      return buffer.slice(0, written);
    }
    encodeInto(input, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("encodeInto: destination must be a Uint8Array");
      const [read, written] = encodeUtf8(`${input}`, destination, 0, destination.length);
      return { read, written };
    }
  }

  function bytesOf(input) {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && input instanceof SharedArrayBuffer)) {
      return new Uint8Array(input);
    }
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError("TextDecoder.decode: input must be an ArrayBuffer or an ArrayBufferView");
  }

  // The WHATWG UTF-8 decoder, with its state kept across streaming calls.
  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #needed = 0;
    #seen = 0;
    #codePoint = 0;
    #lower = 0x80;
    #upper = 0xbf;
    #bomChecked = false;

    constructor(label = "utf-8", options = undefined) {
      const normalized = `${label}`.trim().toLowerCase();
      if (!UTF8_LABELS.has(normalized)) {
        throw new RangeError(`TextDecoder: unsupported encoding "${label}" (only utf-8 is available)`);
      }
      this.#fatal = Boolean(options && options.fatal);
      this.#ignoreBOM = Boolean(options && options.ignoreBOM);
    }
    get encoding() {
      return "utf-8";
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }

    decode(input = undefined, options = undefined) {
      const bytes = bytesOf(input);
      const stream = Boolean(options && options.stream);
      const units = [];
      let chunks = "";
      const flush = () => {
        chunks += fromCharCode.apply(null, units);
        units.length = 0;
      };
      const emit = (cp) => {
        if (!this.#bomChecked) {
          this.#bomChecked = true;
          if (cp === 0xfeff && !this.#ignoreBOM) return;
        }
        if (cp < 0x10000) units.push(cp);
        else {
          const v = cp - 0x10000;
          units.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
        }
        if (units.length >= 8192) flush();
      };
      const error = () => {
        if (this.#fatal) {
          this.#reset();
          throw new TypeError("TextDecoder.decode: the encoded data was not valid utf-8");
        }
        emit(0xfffd);
      };
      for (let i = 0; i < bytes.length; i++) {
        if (this.#feed(bytes[i], emit, error)) i--; // the byte starts over
      }
      if (!stream) {
        if (this.#needed !== 0) {
          this.#clearSequence();
          error();
        }
        this.#bomChecked = false;
      }
      flush();
      return chunks;
    }

    // One byte: `emit`s a code point when a sequence completes, calls
    // `error` on an invalid byte; true when the byte must be read again as
    // the start of a new sequence.
    #feed(byte, emit, error) {
      if (this.#needed === 0) {
        this.#lead(byte, emit, error);
        return false;
      }
      if (byte < this.#lower || byte > this.#upper) {
        this.#clearSequence();
        error();
        return true;
      }
      this.#lower = 0x80;
      this.#upper = 0xbf;
      this.#codePoint = (this.#codePoint << 6) | (byte & 0x3f);
      if (++this.#seen === this.#needed) {
        const cp = this.#codePoint;
        this.#needed = this.#seen = this.#codePoint = 0;
        emit(cp);
      }
      return false;
    }

    // A byte outside a sequence: ASCII, the lead byte of a sequence, or an
    // error.
    #lead(byte, emit, error) {
      if (byte <= 0x7f) emit(byte);
      else if (byte >= 0xc2 && byte <= 0xdf) {
        this.#needed = 1;
        this.#codePoint = byte & 0x1f;
      } else if (byte >= 0xe0 && byte <= 0xef) {
        if (byte === 0xe0) this.#lower = 0xa0;
        if (byte === 0xed) this.#upper = 0x9f;
        this.#needed = 2;
        this.#codePoint = byte & 0x0f;
      } else if (byte >= 0xf0 && byte <= 0xf4) {
        if (byte === 0xf0) this.#lower = 0x90;
        if (byte === 0xf4) this.#upper = 0x8f;
        this.#needed = 3;
        this.#codePoint = byte & 0x07;
      } else error();
    }

    // Forgets a partly read sequence.
    #clearSequence() {
      this.#needed = this.#seen = this.#codePoint = 0;
      this.#lower = 0x80;
      this.#upper = 0xbf;
    }

    #reset() {
      this.#clearSequence();
      this.#bomChecked = false;
    }
  }

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);

  // ---- MessageChannel -----------------------------------------------------

  // A message reaches the other port's onmessage (and "message" listeners)
  // as a zero-delay timer task, as in the service.
  const peers = new WeakMap();
  class MessagePort {
    constructor() {
      this.onmessage = null;
      this._listeners = [];
    }
    postMessage(data) {
      const target = peers.get(this);
      if (!target) return;
      addTimer(
        () => {
          const event = { data, target, type: "message" };
          if (typeof target.onmessage === "function") target.onmessage(event);
          for (const listener of target._listeners.slice()) listener.call(target, event);
        },
        0,
        [],
        false,
        "postMessage",
      );
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
  class MessageChannel {
    constructor() {
      this.port1 = new MessagePort();
      this.port2 = new MessagePort();
      peers.set(this.port1, this.port2);
      peers.set(this.port2, this.port1);
    }
  }
  define("MessageChannel", MessageChannel);

  // ---- SsrPool ------------------------------------------------------------

  const components = new Map();
  define("SsrPool", {
    register(name, render) {
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeError("SsrPool.register: name must be a non-empty string");
      }
      if (typeof render !== "function") {
        throw new TypeError(`SsrPool.register: render for "${name}" must be a function`);
      }
      components.set(name, render);
    },
  });
  define("self", globalThis);

  // ---- render entry point -------------------------------------------------

  const typeName = (value) => (value === null ? "null" : typeof value);
  const UNKNOWN = { unknown: true };

  function settled(html) {
    dropTimers();
    return typeof html === "string" ? html : { notAString: typeName(html) };
  }
  function failed(error) {
    dropTimers();
    return { threw: describeError(error) };
  }

  function render(name, propsJson) {
    const fn = components.get(name);
    if (fn === undefined) return UNKNOWN;
    let result;
    try {
      result = fn(parse(propsJson), { component: name });
    } catch (error) {
      return failed(error);
    }
    if (typeof result === "string") {
      if (timers.size !== 0) dropTimers();
      return result;
    }
    if (result instanceof NativePromise) return promiseThen.call(result, settled, failed);
    dropTimers();
    return { notAString: typeName(result) };
  }

  return { render, fire, dropTimers };
})();
