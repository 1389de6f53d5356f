#!/usr/bin/env node
// Reports which globals a bundle touches while loading and while rendering.
//
//   node tests/node/probe-globals.mjs --bundle FILE [--jobs FILE]
//
// The bundle runs in the reference runtime (runtime.mjs). Before it is
// evaluated, every contract global is replaced by a tracing getter that
// returns the real value, and a list of well-known host globals that the
// service does NOT provide (MessageChannel, setImmediate, ReadableStream,
// window, process, ...) is planted as tracing getters that return undefined.
// A plain reference to a missing global would throw a ReferenceError; with the
// getter it evaluates to undefined instead, so guarded code paths
// (`typeof X === "function" ? ... : ...`) are reported as well as hard
// requirements. Each access is listed with the phase (load or
// render:<component>) and the bundle location that made it.
//
// Output: a human-readable report on stdout.

import { readFileSync } from "node:fs";
import path from "node:path";
import { describeError, loadBundle } from "./runtime.mjs";

const PROVIDED = [
  "console",
  "setTimeout",
  "clearTimeout",
  "setInterval",
  "clearInterval",
  "queueMicrotask",
  "TextEncoder",
  "TextDecoder",
  "performance",
  "self",
  "SsrPool",
];

const MISSING = [
  "MessageChannel", "MessagePort", "BroadcastChannel", "postMessage",
  "setImmediate", "clearImmediate", "requestAnimationFrame", "requestIdleCallback",
  "reportError", "structuredClone", "AsyncLocalStorage",
  "ReadableStream", "WritableStream", "TransformStream", "ReadableByteStreamController",
  "AbortController", "AbortSignal", "Event", "EventTarget", "ErrorEvent", "CustomEvent",
  "DOMException", "URL", "URLSearchParams", "Blob", "File", "FormData",
  "fetch", "Request", "Response", "Headers", "atob", "btoa", "crypto",
  "window", "document", "navigator", "location", "HTMLElement", "Node", "Element",
  "process", "Buffer", "global", "require", "module", "exports", "__dirname",
  "Deno", "Bun", "EdgeRuntime", "WebSocket", "Worker", "localStorage", "sessionStorage",
  "__REACT_DEVTOOLS_GLOBAL_HOOK__",
];

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!["--bundle", "--jobs"].includes(argv[i]) || i + 1 >= argv.length) {
      process.stderr.write("usage: probe-globals.mjs --bundle FILE [--jobs FILE]\n");
      process.exit(64);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args.bundle) {
    process.stderr.write("usage: probe-globals.mjs --bundle FILE [--jobs FILE]\n");
    process.exit(64);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const code = readFileSync(args.bundle, "utf8");
const lines = code.split("\n");
const bundleName = path.resolve(args.bundle);
let phase = "load";
const hits = new Map(); // key -> {name, provided, phase, where, count}

function callerLocation() {
  const stack = new Error().stack.split("\n").slice(1);
  for (const frame of stack) {
    const m = frame.match(/\(?([^()\s]+):(\d+):(\d+)\)?$/);
    if (m && path.resolve(m[1]) === bundleName) return { line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

function record(name, provided) {
  const loc = callerLocation();
  const where = loc ? `${path.basename(args.bundle)}:${loc.line}` : "(outside the bundle)";
  const key = `${name}|${phase}|${where}`;
  const hit = hits.get(key);
  if (hit) hit.count++;
  else hits.set(key, { name, provided, phase, where, line: loc?.line, count: 1 });
}

function prepare(global) {
  for (const name of PROVIDED) {
    let value = global[name];
    Object.defineProperty(global, name, {
      configurable: true,
      enumerable: false,
      get() {
        record(name, true);
        return value;
      },
      set(v) {
        value = v;
      },
    });
  }
  for (const name of MISSING) {
    Object.defineProperty(global, name, {
      configurable: true,
      enumerable: false,
      get() {
        record(name, false);
        return undefined;
      },
    });
  }
}

let bundle;
try {
  bundle = loadBundle(code, { filename: bundleName, prepare });
} catch (error) {
  const { name, message } = describeError(error);
  console.log(`bundle failed to load: ${name}: ${message}`);
}

if (bundle) {
  const jobs = args.jobs
    ? JSON.parse(readFileSync(args.jobs, "utf8"))
    : [...bundle.components.keys()].map((component) => ({ component, props: {} }));
  for (const job of jobs) {
    phase = `render:${job.component}`;
    try {
      const html = await bundle.render(job.component, job.props ?? {});
      console.log(`rendered ${job.component}: ${html.length} chars`);
    } catch (error) {
      const { name, message } = describeError(error);
      console.log(`rendered ${job.component}: threw ${name}: ${message}`);
    }
  }
  bundle.dispose();
}

const all = [...hits.values()];
for (const provided of [false, true]) {
  const group = all.filter((h) => h.provided === provided);
  console.log(
    provided
      ? "\ncontract globals used:"
      : "\nglobals NOT provided by the service that the bundle looked up (value seen: undefined):",
  );
  if (group.length === 0) console.log("  (none)");
  for (const h of group) {
    const src = h.line ? lines[h.line - 1].trim().slice(0, 110) : "";
    console.log(`  ${h.name.padEnd(16)} ${h.phase.padEnd(20)} ${h.where.padEnd(22)} x${h.count}  ${src}`);
  }
}
process.exit(0);
