#!/usr/bin/env node
// Baseline B3: one Node process rendering through a pool of isolated-vm
// isolates, the closest Node analogue of the service's isolate pool.
//
//   node --no-node-snapshot loadtest/node/ivm-server.mjs --port P --bundle FILE \
//        [--isolates N] [--memory-limit MB]
//
// Each isolate gets the contract's globals (ivm-prelude.js, implemented inside
// the isolate; timers keep their callbacks in the isolate and use the host
// only as a clock), then the bundle, compiled once per isolate (the first
// compile produces V8 cached data that the others consume) and run once.
// A request takes an idle isolate (FIFO wait otherwise), calls the registered
// render with the props as JSON text (parsed inside the isolate) and copies
// the HTML string out; promise results are awaited across the isolate
// boundary.
//
// Prints `ready <port> isolates=N memoryLimit=MB` once every isolate has
// loaded the bundle; GET /ready answers 503 until then. `memoryLimit` is
// isolated-vm's heap limit, which also sizes V8's young generation.

import os from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

import {
  RenderFailure,
  closeAndExit,
  createRenderServer,
  exitBundleFailed,
  integer,
  notAString,
  parseServerArgs,
  renderThrew,
  renderTimeout,
  unknownComponent,
  withDeadline,
} from "./http-common.mjs";

const nodeOptions = process.env.NODE_OPTIONS ?? "";
if (!process.execArgv.includes("--no-node-snapshot") && !nodeOptions.includes("--no-node-snapshot")) {
  process.stderr.write("ivm-server: isolated-vm needs Node started with --no-node-snapshot:\n");
  process.stderr.write(`  node --no-node-snapshot ${path.relative(process.cwd(), process.argv[1])} ...\n`);
  process.exit(64);
}

const require = createRequire(import.meta.url);
let ivm;
try {
  ivm = require("isolated-vm");
} catch (error) {
  process.stderr.write(`ivm-server: cannot load isolated-vm (${error.message}); run loadtest/node/setup.sh\n`);
  process.exit(2);
}

const args = parseServerArgs(process.argv.slice(2), {
  defaultPort: 3002,
  flags: {
    isolates: { default: os.availableParallelism(), parse: integer(1), help: "isolates in the pool" },
    "memory-limit": { default: 128, parse: integer(8), help: "isolate memoryLimit in MB" },
    "queue-capacity": { default: 1024, parse: integer(0), help: "requests waiting for an isolate before 503" },
    "load-timeout-ms": { default: 30000, parse: integer(1), help: "limit for running the bundle once" },
  },
  usageLine: "node --no-node-snapshot ivm-server.mjs --port P --bundle FILE [--isolates N] [--memory-limit MB]",
});

const bundlePath = path.resolve(args.bundle);
const bundleCode = readFileSync(bundlePath, "utf8");
const preludePath = new URL("./ivm-prelude.js", import.meta.url);
const preludeCode = readFileSync(preludePath, "utf8");
const TIMED_OUT = "Script execution timed out.";

let cachedData; // ExternalCopy of the bundle's V8 code cache, from the first compile

class Slot {
  constructor(index) {
    this.index = index;
    this.isolate = null;
    this.ready = false;
  }

  async start() {
    this.ready = false;
    const isolate = new ivm.Isolate({
      memoryLimit: args["memory-limit"],
      onCatastrophicError: (message) => {
        process.stderr.write(`ivm-server: isolate ${this.index}: catastrophic error: ${message}\n`);
        process.abort();
      },
    });
    this.isolate = isolate;
    const context = await isolate.createContext();
    const global = context.global;

    let fireRef = null;
    const tag = `[isolate ${this.index}]`;
    const hostApi = new ivm.ExternalCopy({}).copyInto();
    await global.set("__ssrHost", hostApi);
    const host = await global.get("__ssrHost", { reference: true });
    await host.set(
      "log",
      new ivm.Callback((level, text) => process.stderr.write(`${tag} ${level}: ${text}\n`), { ignored: true }),
    );
    await host.set(
      "schedule",
      new ivm.Callback(
        (id, ms) => {
          setTimeout(() => {
            if (isolate.isDisposed || fireRef === null) return;
            try {
              fireRef.applyIgnored(undefined, [id]);
            } catch {
              // the isolate went away meanwhile
            }
          }, ms);
        },
        { ignored: true },
      ),
    );
    await host.set("now", new ivm.Callback(() => performance.now()));
    host.release();

    const prelude = await isolate.compileScript(preludeCode, { filename: preludePath.pathname });
    const api = await prelude.run(context, { reference: true });
    fireRef = await api.get("fire", { reference: true });
    this.renderRef = await api.get("render", { reference: true });
    this.dropTimersRef = await api.get("dropTimers", { reference: true });

    const script = await isolate.compileScript(bundleCode, {
      filename: bundlePath,
      ...(cachedData ? { cachedData } : { produceCachedData: true }),
    });
    if (!cachedData && script.cachedData) cachedData = script.cachedData;
    if (script.cachedDataRejected) {
      process.stderr.write(`ivm-server: isolate ${this.index}: V8 rejected the cached data\n`);
    }
    await script.run(context, { timeout: args["load-timeout-ms"] });
    this.ready = true;
  }

  /** Renders; resolves to HTML or rejects with a RenderFailure. */
  async render(component, propsJson, timeoutMs) {
    let out;
    try {
      const pending = this.renderRef.apply(undefined, [component, propsJson], {
        timeout: timeoutMs,
        result: { copy: true, promise: true },
      });
      out = await withDeadline(pending, timeoutMs);
    } catch (error) {
      if (error instanceof RenderFailure) {
        // Deadline while waiting for a promise: forget its timers.
        try {
          this.dropTimersRef.applyIgnored(undefined, []);
        } catch {}
        throw error;
      }
      if (this.isolate.isDisposed) {
        throw new RenderFailure(
          503,
          "out_of_memory",
          `render exceeded the isolate heap limit of ${args["memory-limit"]} MB`,
        );
      }
      if (error?.message === TIMED_OUT) throw renderTimeout(timeoutMs);
      throw renderThrew({ name: error?.name ?? "Error", message: error?.message ?? String(error) });
    }
    if (typeof out === "string") return out;
    if (out.unknown) throw unknownComponent(component);
    if (out.threw) throw renderThrew(out.threw);
    throw notAString(out.notAString);
  }
}

// ---- the pool -------------------------------------------------------------

const slots = Array.from({ length: args.isolates }, (_, i) => new Slot(i));
const idle = [];
const waiting = [];
let waitingHead = 0;

function acquire() {
  if (idle.length !== 0) return idle.shift();
  if (waiting.length - waitingHead >= args["queue-capacity"]) {
    throw new RenderFailure(503, "overloaded", `render queue is full (${args["queue-capacity"]} waiting)`);
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release(slot) {
  if (waitingHead < waiting.length) {
    const resolve = waiting[waitingHead];
    waiting[waitingHead++] = undefined;
    if (waitingHead > 1024 && waitingHead * 2 > waiting.length) {
      waiting.splice(0, waitingHead);
      waitingHead = 0;
    }
    resolve(slot);
  } else {
    idle.push(slot);
  }
}

async function restart(slot) {
  process.stderr.write(`ivm-server: isolate ${slot.index} was disposed (memory limit); starting a new one\n`);
  try {
    slot.isolate.dispose();
  } catch {}
  await slot.start();
  release(slot);
}

async function render(component, propsJson, timeoutMs) {
  const acquired = acquire();
  const slot = acquired instanceof Slot ? acquired : await acquired;
  try {
    return await slot.render(component, propsJson, timeoutMs);
  } finally {
    if (slot.isolate.isDisposed) {
      restart(slot).catch((error) => {
        process.stderr.write(`ivm-server: isolate ${slot.index} failed to restart: ${error.message}\n`);
        process.exit(1);
      });
    } else {
      release(slot);
    }
  }
}

const server = createRenderServer({
  render,
  readiness: () => {
    const readyWorkers = slots.filter((s) => s.ready).length;
    return { ready: readyWorkers === slots.length, workers: slots.length, readyWorkers };
  },
  maxBodyBytes: args["max-body-bytes"],
});

await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(args.port, args.host, resolve);
});

try {
  // The first isolate produces the code cache; the others consume it.
  await slots[0].start();
  await Promise.all(slots.slice(1).map((slot) => slot.start()));
} catch (error) {
  exitBundleFailed("ivm-server", bundlePath, { name: error?.name ?? "Error", message: error?.message ?? error });
}
for (const slot of slots) release(slot);
process.stdout.write(`ready ${server.address().port} isolates=${slots.length} memoryLimit=${args["memory-limit"]}\n`);

process.on("SIGTERM", () => closeAndExit(server));
process.on("SIGINT", () => closeAndExit(server));
