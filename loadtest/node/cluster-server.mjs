#!/usr/bin/env node
// Baseline B2: a node:cluster server. The primary forks N workers; each loads
// the bundle once with the reference runtime (tests/node/runtime.mjs) and
// renders in-process behind a plain `http` server on the shared port.
//
//   node loadtest/node/cluster-server.mjs --port P --bundle FILE [--workers N]
//
// Prints `ready <port>` on stdout once all N workers listen; until then (and
// while a replacement for a crashed worker starts) GET /ready answers 503.
// Renders that return a Promise are cut off at the request's deadline (504);
// a synchronous render cannot be interrupted.

import cluster from "node:cluster";
import os from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describeError, loadBundle } from "../../tests/node/runtime.mjs";
import {
  RenderFailure,
  closeAndExit,
  createRenderServer,
  exitBundleFailed,
  integer,
  notAString,
  parseServerArgs,
  renderThrew,
  unknownComponent,
  withDeadline,
} from "./http-common.mjs";

const args = parseServerArgs(process.argv.slice(2), {
  defaultPort: 3001,
  flags: {
    workers: { default: os.availableParallelism(), parse: integer(1), help: "worker processes" },
  },
  usageLine: "cluster-server.mjs --port P --bundle FILE [--workers N] [--host ADDR]",
});

if (cluster.isPrimary) runPrimary();
else runWorker();

function runPrimary() {
  const want = args.workers;
  const listening = new Set();
  let announced = false;
  let stopping = false;

  cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), args: process.argv.slice(2), silent: false });

  const state = () => ({ type: "ssr-ready", ready: listening.size === want, readyWorkers: listening.size, workers: want });
  const broadcast = () => {
    const message = state();
    for (const worker of Object.values(cluster.workers)) {
      if (worker.isConnected()) worker.send(message);
    }
  };

  cluster.on("listening", (worker, address) => {
    listening.add(worker.id);
    broadcast();
    if (!announced && listening.size === want) {
      announced = true;
      process.stdout.write(`ready ${address.port}\n`);
    }
  });

  cluster.on("exit", (worker, code, signal) => {
    const wasListening = listening.delete(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
      return;
    }
    const why = signal ? `signal ${signal}` : `code ${code}`;
    if (!wasListening) {
      // It never got as far as listening (bad bundle, port in use, ...):
      // restarting would only loop.
      process.stderr.write(`cluster-server: worker ${worker.process.pid} exited with ${why} before listening\n`);
      stop(1);
      return;
    }
    process.stderr.write(`cluster-server: worker ${worker.process.pid} exited with ${why}; starting another\n`);
    broadcast();
    cluster.fork();
  });

  function stop(exitCode = 0) {
    if (stopping) return;
    stopping = true;
    process.exitCode = exitCode;
    const workers = Object.values(cluster.workers);
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker.kill("SIGTERM");
    setTimeout(() => process.exit(exitCode), 5000).unref();
  }
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));

  for (let i = 0; i < want; i++) cluster.fork();
}

function runWorker() {
  const bundlePath = path.resolve(args.bundle);
  let bundle;
  try {
    bundle = loadBundle(readFileSync(bundlePath, "utf8"), { filename: bundlePath });
  } catch (error) {
    exitBundleFailed("cluster-server", bundlePath, describeError(error));
  }

  let readiness = { ready: false, workers: args.workers, readyWorkers: 0 };
  process.on("message", (message) => {
    if (message && message.type === "ssr-ready") {
      const { ready, workers, readyWorkers } = message;
      readiness = { ready, workers, readyWorkers };
    }
  });

  // The runtime's own TypeErrors for a render that produced no string.
  const NOT_A_STRING = /^render of ".*" (?:returned|resolved to) (\w+)/s;
  const failure = (error) => {
    if (error instanceof RenderFailure) return error;
    if (error instanceof TypeError) {
      const match = NOT_A_STRING.exec(error.message);
      if (match) return notAString(match[1]);
    }
    return renderThrew(describeError(error));
  };

  function render(component, propsJson, timeoutMs) {
    if (!bundle.components.has(component)) throw unknownComponent(component);
    let result;
    try {
      result = bundle.renderJsonSync(component, propsJson);
    } catch (error) {
      throw failure(error);
    }
    if (typeof result === "string") return result;
    return withDeadline(result, timeoutMs).catch((error) => {
      throw failure(error);
    });
  }

  const server = createRenderServer({
    render,
    readiness: () => readiness,
    maxBodyBytes: args["max-body-bytes"],
  });
  server.listen(args.port, args.host);

  process.on("SIGTERM", () => closeAndExit(server));
  // The primary handles Ctrl-C for the whole group.
  process.on("SIGINT", () => {});
}
