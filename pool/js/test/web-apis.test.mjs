// pool/src/web.js in a bare context: what it defines, and how it behaves
// next to Node's own implementations of the same Web APIs (the hand-written
// DOMException, AbortController, AbortSignal and Headers above all; URL and
// fetch have test files of their own).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { WEB_JS } from "../../../tests/node/runtime.mjs";
import { inWeb, same, webContext } from "./harness.mjs";

const GLOBALS = [
  "DOMException", "Event", "EventTarget", "AbortController", "AbortSignal", "Headers",
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest",
  "ReadableStreamDefaultController", "ReadableByteStreamController",
  "WritableStream", "WritableStreamDefaultWriter", "WritableStreamDefaultController",
  "TransformStream", "TransformStreamDefaultController",
  "ByteLengthQueuingStrategy", "CountQueuingStrategy",
  "URL", "URLSearchParams", "Request", "Response", "fetch",
];

test("web.js evaluates to a function that, called with a host in an empty context, defines each global like runtime.js does", () => {
  const code = readFileSync(WEB_JS, "utf8");
  const context = vm.createContext(vm.constants?.DONT_CONTEXTIFY ?? {});
  const before = vm.runInContext("Object.getOwnPropertyNames(globalThis)", context);
  const install = new vm.Script(code, { filename: "web.js" }).runInContext(context);
  assert.equal(typeof install, "function");
  assert.deepEqual(vm.runInContext("Object.getOwnPropertyNames(globalThis)", context), before, "evaluating defines nothing");
  // Installing calls nothing of the host.
  install({});
  const added = vm.runInContext("Object.getOwnPropertyNames(globalThis)", context).filter((n) => !before.includes(n));
  assert.deepEqual([...added].sort(), [...GLOBALS].sort());
  for (const name of GLOBALS) {
    const d = vm.runInContext(`Object.getOwnPropertyDescriptor(globalThis, ${JSON.stringify(name)})`, context);
    assert.equal(typeof d.value, "function", name);
    assert.equal(d.value.name, name);
    assert.deepEqual([d.writable, d.enumerable, d.configurable], [true, false, true], name);
  }
});

test("web.js is one classic script that names no Node API", () => {
  const code = readFileSync(WEB_JS, "utf8");
  assert.match(code, /^\/\*! pool\/src\/web\.js/);
  assert.ok(code.includes("web-streams-polyfill 4.3.0 (MIT)"));
  assert.ok(code.includes("Permission is hereby granted"), "licence texts");
  assert.doesNotMatch(code, /\brequire\s*\(|\bprocess\b|\bimport\s*\(|^\s*(import|export)\s/m);
  assert.doesNotThrow(() => new vm.Script(code));
});

test("DOMException as Node has it", async () => {
  await same(`
    for (const args of [[], ["m"], ["m", "AbortError"], ["t", "TimeoutError"], ["x", "NotAName"], ["d", "DataCloneError"], [undefined, undefined], [42, "SyntaxError"]]) {
      await record("new " + JSON.stringify(args), () => {
        const e = new DOMException(...args);
        return [e.name, e.message, e.code, e instanceof Error, e instanceof DOMException, String(e),
          Object.prototype.toString.call(e), Object.keys(e).length, String(e.stack).split("\\n")[0]];
      });
    }
    await record("constants", () => [DOMException.ABORT_ERR, DOMException.prototype.TIMEOUT_ERR, DOMException.DATA_CLONE_ERR, DOMException.VALIDATION_ERR]);
    await record("prototype", () => ["name", "message", "code"].map((k) => {
      const d = Object.getOwnPropertyDescriptor(DOMException.prototype, k);
      return [typeof d.get, d.set, d.enumerable, d.configurable];
    }));
    await record("prototype chain", () => Object.getPrototypeOf(DOMException.prototype) === Error.prototype);
    await record("getter on another object", () => Object.getOwnPropertyDescriptor(DOMException.prototype, "name").get.call({}));
    await record("symbol message", () => new DOMException(Symbol("x")));
  `);
});

test("AbortController and AbortSignal as Node has them", async () => {
  await same(`
    const log = [];
    const c = new AbortController();
    const s = c.signal;
    await record("initial", () => [s.aborted, s.reason, s instanceof EventTarget, Object.prototype.toString.call(s), Object.prototype.toString.call(c), c.signal === s]);
    s.onabort = (e) => log.push(["onabort", e.type, e.bubbles, e.cancelable, e.target === s, s.aborted]);
    s.addEventListener("abort", (e) => log.push(["listener", e.type, s.reason.name]));
    s.addEventListener("abort", { handleEvent: (e) => log.push(["handleEvent", e.type]) }, { once: true });
    await record("throwIfAborted before", () => s.throwIfAborted());
    c.abort();
    c.abort("again");
    await record("abort events", () => log);
    await record("default reason", () => [s.reason.name, s.reason.message, s.reason.code, s.reason instanceof DOMException]);
    await record("throwIfAborted after", () => s.throwIfAborted());
    await record("reason kept", () => s.reason.name);

    const c2 = new AbortController();
    const why = { why: "custom" };
    c2.abort(why);
    await record("custom reason", () => c2.signal.reason === why);
    await record("abort(undefined)", () => { const c3 = new AbortController(); c3.abort(undefined); return c3.signal.reason.name; });
    await record("abort(null)", () => { const c3 = new AbortController(); c3.abort(null); return c3.signal.reason; });

    await record("AbortSignal.abort()", () => { const a = AbortSignal.abort(); return [a.aborted, a.reason.name, a.reason.message]; });
    await record("AbortSignal.abort(reason)", () => AbortSignal.abort("r").reason);
    await record("new AbortSignal", () => new AbortSignal());
    await record("aborted on a non-signal", () => Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted").get.call({}));

    // The listener "signal" option: removed when its signal aborts.
    const target = new EventTarget();
    const lifetime = new AbortController();
    let calls = 0;
    target.addEventListener("ping", () => calls++, { signal: lifetime.signal });
    target.dispatchEvent(new Event("ping"));
    lifetime.abort();
    target.dispatchEvent(new Event("ping"));
    await record("listener signal option", () => calls);
    await record("already aborted signal option", () => {
      let n = 0;
      target.addEventListener("ping", () => n++, { signal: AbortSignal.abort() });
      target.dispatchEvent(new Event("ping"));
      return n;
    });

    // AbortSignal.any and dependent signals.
    const a = new AbortController();
    const b = new AbortController();
    const any = AbortSignal.any([a.signal, b.signal]);
    const anyOfAny = AbortSignal.any([any]);
    const order = [];
    any.addEventListener("abort", () => order.push(["any", any.reason]));
    anyOfAny.addEventListener("abort", () => order.push(["anyOfAny", anyOfAny.reason]));
    b.signal.addEventListener("abort", () => order.push(["b", b.signal.reason]));
    await record("any before", () => [any.aborted, anyOfAny.aborted]);
    b.abort("from b");
    a.abort("from a");
    await record("any after", () => [any.reason, anyOfAny.reason, order]);
    await record("any of aborted", () => AbortSignal.any([new AbortController().signal, AbortSignal.abort("first")]).reason);
    await record("any of nothing", () => AbortSignal.any([]).aborted);
    await record("any of a non-signal", () => AbortSignal.any([{}]));
    await record("any of a non-sequence", () => AbortSignal.any(5));

    await record("timeout", () => new Promise((resolve) => {
      setTimeout(() => {}, 50); // Node's timeout timer does not keep its event loop alive
      const t = AbortSignal.timeout(5);
      const before = t.aborted;
      t.onabort = () => resolve([before, t.aborted, t.reason.name, t.reason.message, t.reason.code]);
    }));
  `);
});

// Where Node 20 is behind the standards, the standards decide.
test("AbortSignal follows the current DOM Standard where Node 20 does not", async () => {
  const results = await inWeb(`
    // whatwg/dom#1295: dependent signals are marked aborted before any abort
    // event fires, so a source's listener sees them aborted.
    const source = new AbortController();
    const dependent = AbortSignal.any([source.signal]);
    let seen;
    source.signal.addEventListener("abort", () => { seen = [dependent.aborted, dependent.reason]; });
    source.abort("r");
    await record("dependents marked first", () => seen);
    // Web IDL [EnforceRange] unsigned long long: a TypeError (Node throws a RangeError).
    await record("timeout(-1)", () => AbortSignal.timeout(-1));
    await record("timeout(NaN)", () => AbortSignal.timeout(NaN));
    await record("timeout(2 ** 53)", () => AbortSignal.timeout(2 ** 53));
  `);
  assert.deepEqual(results, [
    ["dependents marked first", [true, "r"]],
    ["timeout(-1)", { threw: "[object Error] TypeError" }],
    ["timeout(NaN)", { threw: "[object Error] TypeError" }],
    ["timeout(2 ** 53)", { threw: "[object Error] TypeError" }],
  ]);
});

test("EventTarget and Event as Node has them", async () => {
  await same(`
    const t = new EventTarget();
    const log = [];
    const first = (e) => { log.push(["first", e.eventPhase, e.currentTarget === t]); t.removeEventListener("x", second); };
    const second = () => log.push(["second"]);
    t.addEventListener("x", first);
    t.addEventListener("x", second);
    t.addEventListener("x", first); // a duplicate is ignored
    t.addEventListener("x", () => log.push(["once"]), { once: true });
    await record("dispatch", () => [t.dispatchEvent(new Event("x")), t.dispatchEvent(new Event("x")), log]);

    const c = new EventTarget();
    c.addEventListener("c", (e) => e.preventDefault());
    await record("cancelable", () => [c.dispatchEvent(new Event("c", { cancelable: true })), c.dispatchEvent(new Event("c"))]);

    const s = new EventTarget();
    const seen = [];
    s.addEventListener("s", (e) => { seen.push(1); e.stopImmediatePropagation(); });
    s.addEventListener("s", () => seen.push(2));
    s.dispatchEvent(new Event("s"));
    await record("stopImmediatePropagation", () => seen);

    await record("event", () => {
      const e = new Event("e", { bubbles: true, cancelable: true, composed: true });
      return [e.type, e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.eventPhase, e.target, e.isTrusted, Event.AT_TARGET, typeof e.timeStamp];
    });
    await record("event without type", () => new Event());
    await record("dispatch a non-event", () => new EventTarget().dispatchEvent({ type: "x" }));
    await record("after dispatch", () => {
      const target = new EventTarget();
      const e = new Event("after");
      target.addEventListener("after", () => {});
      target.dispatchEvent(e);
      return [e.target === target, e.currentTarget, e.eventPhase, e.composedPath().length];
    });
    await record("listener that is not an object", () => new EventTarget().addEventListener("x", 5));
    await record("signal option that is not a signal", () => new EventTarget().addEventListener("x", () => {}, { signal: {} }));

    // Removing listeners while an event is dispatched: a removed listener
    // is not called and no other listener is skipped or called twice.
    await record("remove during dispatch, then once", () => {
      const target = new EventTarget();
      const calls = [];
      const a = () => { calls.push("a"); target.removeEventListener("r", a); target.removeEventListener("r", b); };
      const b = () => calls.push("b");
      target.addEventListener("r", a);
      target.addEventListener("r", b);
      target.addEventListener("r", () => calls.push("once"), { once: true });
      target.addEventListener("r", () => calls.push("c"));
      target.dispatchEvent(new Event("r"));
      target.dispatchEvent(new Event("r"));
      return calls;
    });
    await record("add during dispatch runs next time", () => {
      const target = new EventTarget();
      const calls = [];
      target.addEventListener("r", () => { calls.push("a"); target.addEventListener("r", () => calls.push("late")); }, { once: true });
      target.dispatchEvent(new Event("r"));
      target.dispatchEvent(new Event("r"));
      return calls;
    });
    // What react-dom/server does with the render's signal: a listener whose
    // own signal is aborted from inside the abort event it listens to.
    await record("listener removed by its signal during the abort event", () => {
      const outer = new AbortController();
      const calls = [];
      for (const name of ["first", "second"]) {
        const lifetime = new AbortController();
        outer.signal.addEventListener("abort", () => { calls.push(name); lifetime.abort(); }, { signal: lifetime.signal });
      }
      outer.signal.addEventListener("abort", () => calls.push("once"), { once: true });
      outer.signal.addEventListener("abort", () => calls.push("last"));
      outer.abort();
      return calls;
    });
    await record("handleEvent this", () => {
      const target = new EventTarget();
      const listener = { handleEvent(e) { this.seen = [this === listener, e.currentTarget === target]; } };
      target.addEventListener("h", listener);
      target.dispatchEvent(new Event("h"));
      return listener.seen;
    });
    await record("onabort order and trust", () => {
      const c = new AbortController();
      const calls = [];
      c.signal.addEventListener("abort", () => calls.push("before"));
      c.signal.onabort = (e) => calls.push(["handler", e.isTrusted, e.eventPhase]);
      c.signal.addEventListener("abort", () => calls.push("after"));
      c.signal.onabort = (e) => calls.push(["replaced handler", e.isTrusted]);
      c.abort();
      return calls;
    });
  `);
});

// Where Node 20 is behind the DOM Standard and Web IDL.
test("EventTarget and Event follow the DOM Standard where Node 20 does not", async () => {
  const results = await inWeb(`
    await record("isTrusted is an own property", () => {
      const d = Object.getOwnPropertyDescriptor(new Event("x"), "isTrusted");
      return [typeof d.get, d.enumerable, d.configurable];
    });
    await record("dispatching an event being dispatched", () => {
      const target = new EventTarget();
      const e = new Event("x");
      let error;
      target.addEventListener("x", () => { try { target.dispatchEvent(e); } catch (err) { error = err; } });
      target.dispatchEvent(e);
      return error;
    });
    await record("onabort ignores non-objects", () => {
      const signal = new AbortController().signal;
      signal.onabort = 5;
      return signal.onabort;
    });
    await record("capture listeners first", () => {
      const target = new EventTarget();
      const calls = [];
      target.addEventListener("p", () => calls.push("bubble"));
      target.addEventListener("p", () => calls.push("capture"), true);
      target.addEventListener("p", () => calls.push("capture 2"), { capture: true });
      target.dispatchEvent(new Event("p"));
      return calls;
    });
    await record("passive listener cannot cancel", () => {
      const target = new EventTarget();
      target.addEventListener("p", (e) => e.preventDefault(), { passive: true });
      const e = new Event("p", { cancelable: true });
      return [target.dispatchEvent(e), e.defaultPrevented];
    });
    await record("returnValue and cancelBubble", () => {
      const e = new Event("v", { cancelable: true });
      e.returnValue = false;
      e.cancelBubble = true;
      return [e.defaultPrevented, e.returnValue, e.cancelBubble];
    });
  `);
  assert.deepEqual(results, [
    ["isTrusted is an own property", ["function", true, false]],
    ["dispatching an event being dispatched", { error: "InvalidStateError", message: "The event is already being dispatched", code: 11 }],
    ["onabort ignores non-objects", null],
    ["capture listeners first", ["capture", "capture 2", "bubble"]],
    ["passive listener cannot cancel", [true, false]],
    ["returnValue and cancelBubble", [true, false, true]],
  ]);
});

test("Headers as Node has it", async () => {
  await same(`
    const dump = (h) => [...h];
    await record("record init", () => dump(new Headers({ "Content-Type": " text/html; charset=utf-8 ", "X-B": "2", "x-a": "1" })));
    await record("pairs init", () => dump(new Headers([["Set-Cookie", "a=1"], ["Accept", "*/*"], ["set-cookie", "b=2"], ["accept", "text/html"]])));
    await record("headers init", () => dump(new Headers(new Headers({ Link: "</a.css>; rel=preload" }))));
    await record("map init", () => dump(new Headers(new Map([["k", "v"]]))));
    await record("bad pair", () => new Headers([["a", "b", "c"]]));
    await record("bad pair 2", () => new Headers([["a"]]));
    await record("non-object init", () => new Headers("a: b"));
    await record("null init", () => new Headers(null));
    await record("bad name", () => new Headers({ "bad name": "x" }));
    await record("bad value", () => new Headers({ a: "x\\ny" }));
    await record("NUL value", () => new Headers({ a: "x\\0y" }));
    await record("empty name", () => new Headers([["", "x"]]));
    await record("non-ByteString", () => new Headers({ a: "\\u0100" }));
    await record("latin-1 value", () => new Headers({ a: "caf\\u00e9" }).get("a"));
    await record("inner whitespace kept", () => new Headers({ a: " x \\t y\\t" }).get("a"));

    const h = new Headers();
    h.append("Accept", "text/html");
    h.append("ACCEPT", "application/json");
    h.append("Set-Cookie", "a=1; Path=/");
    h.append("set-cookie", "b=2, c=3");
    h.append("Z-Last", "z");
    h.append("a-first", "");
    await record("get combined", () => [h.get("accept"), h.get("Set-Cookie"), h.get("missing"), h.get("a-first")]);
    await record("has", () => [h.has("ACCEPT"), h.has("nope")]);
    await record("getSetCookie", () => h.getSetCookie());
    await record("entries", () => [...h.entries()]);
    await record("keys", () => [...h.keys()]);
    await record("values", () => [...h.values()]);
    await record("forEach", () => { const out = []; h.forEach(function (v, k, self) { out.push([k, v, self === h, this && this.tag]); }, { tag: "t" }); return out; });
    h.set("accept", "text/plain");
    await record("set replaces all", () => [h.get("Accept"), [...h.keys()]]);
    h.delete("SET-COOKIE");
    await record("delete", () => [h.has("set-cookie"), h.getSetCookie()]);
    await record("get bad name", () => h.get("bad name"));
    await record("delete bad name", () => h.delete("(x)"));
    await record("set bad value", () => h.set("a", "x\\r"));
    await record("append missing argument", () => h.append("a"));
    await record("toStringTag", () => [Object.prototype.toString.call(h), Object.prototype.toString.call(h.entries())]);
    await record("iterator prototype", () => {
      const it = h.keys();
      return [typeof it[Symbol.iterator], it[Symbol.iterator]() === it, Object.getPrototypeOf(it) === Object.getPrototypeOf(h.values())];
    });
    await record("live iteration", () => {
      const live = new Headers({ b: "1" });
      const it = live.keys();
      const out = [it.next().value];
      live.append("c", "2");
      live.append("a", "0");
      out.push(it.next().value, it.next().done);
      return out;
    });
    await record("next on another object", () => new Headers().keys().next.call({}));
  `);
});

test("streams work with the runtime's globals and agree with Node's", async () => {
  await same(`
    const text = (chunks) => chunks.map((c) => new TextDecoder().decode(c)).join("");
    await record("byte stream, default reader", async () => {
      const s = new ReadableStream({
        type: "bytes",
        start(c) { c.enqueue(new TextEncoder().encode("hé")); c.enqueue(new TextEncoder().encode("llo")); c.close(); },
      });
      const out = [];
      for await (const chunk of s) out.push(chunk);
      return [out.length, text(out), ArrayBuffer.isView(out[0])];
    });
    await record("byte stream, BYOB reader", async () => {
      let n = 0;
      const s = new ReadableStream({
        type: "bytes",
        pull(c) {
          const req = c.byobRequest;
          if (n === 3) { c.close(); if (req) req.respond(0); return; }
          req.view[0] = 65 + n++;
          req.respond(1);
        },
      });
      const reader = s.getReader({ mode: "byob" });
      const got = [];
      let buffer = new ArrayBuffer(4);
      for (;;) {
        const { value, done } = await reader.read(new Uint8Array(buffer, 0, 4));
        if (done) break;
        got.push(String.fromCharCode(...value));
        buffer = value.buffer;
      }
      return got;
    });
    await record("highWaterMark 0 pulls on read only", async () => {
      const pulls = [];
      const s = new ReadableStream({ type: "bytes", pull(c) { pulls.push(pulls.length); c.enqueue(new Uint8Array([1])); } }, { highWaterMark: 0 });
      await null;
      const before = pulls.length;
      const reader = s.getReader();
      await reader.read();
      return [before, pulls.length >= 1];
    });
    await record("pipeThrough a TransformStream into a WritableStream", async () => {
      const written = [];
      await new ReadableStream({ start(c) { ["a", "b", "c"].forEach((x) => c.enqueue(x)); c.close(); } })
        .pipeThrough(new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); }, flush(c) { c.enqueue("!"); } }))
        .pipeTo(new WritableStream({ write(chunk) { written.push(chunk); } }, new CountQueuingStrategy({ highWaterMark: 1 })));
      return written;
    });
    await record("pipeTo aborted by a signal", async () => {
      const c = new AbortController();
      const p = new ReadableStream({ pull() {} }).pipeTo(new WritableStream(), { signal: c.signal });
      c.abort();
      try { await p; return "resolved"; } catch (e) { return [e.name, e instanceof DOMException]; }
    });
    await record("tee", async () => {
      const [a, b] = ReadableStream.from(["x", "y"]).tee();
      const read = async (s) => { const out = []; for await (const v of s) out.push(v); return out; };
      return [await read(a), await read(b)];
    });
    await record("cancel reaches the source", async () => {
      let reason;
      const s = new ReadableStream({ cancel(r) { reason = r; } });
      await s.cancel("done");
      return reason;
    });
    await record("writer backpressure", async () => {
      const w = new WritableStream({ write() { return new Promise((r) => setTimeout(r, 1)); } }, new ByteLengthQueuingStrategy({ highWaterMark: 4 }));
      const writer = w.getWriter();
      const sizes = [writer.desiredSize];
      writer.write(new Uint8Array(3));
      sizes.push(writer.desiredSize);
      writer.write(new Uint8Array(3));
      sizes.push(writer.desiredSize);
      await writer.close();
      return sizes;
    });
    await record("locked", () => { const s = new ReadableStream(); s.getReader(); return s.getReader(); });
    await record("enqueue a non-view into a byte stream", () => new ReadableStream({ type: "bytes", start(c) { c.enqueue("x"); } }).getReader().read());
  `);
});

test("a listener that throws is reported on the console and the other listeners still run", async () => {
  const { loaded, context, messages } = webContext();
  try {
    const calls = vm.runInContext(`
      const t = new EventTarget();
      let calls = 0;
      t.addEventListener("x", () => { throw new Error("listener failed"); });
      t.addEventListener("x", () => calls++);
      t.dispatchEvent(new Event("x"));
      calls;
    `, context);
    assert.equal(calls, 1);
    assert.ok(messages.some(([level, text]) => level === "error" && text.includes("listener failed")), JSON.stringify(messages));
  } finally {
    loaded.dispose();
  }
});
