// The reference Hypernova server (npm `hypernova`, in dev mode: one process,
// no cluster) rendering the components of one server bundle through the Node
// reference runtime (tests/node/runtime.mjs).
//
//   node reference-server.mjs BUNDLE
//
// Listens on 127.0.0.1 on an ephemeral port and prints `{"port": N}` as one
// line on stdout once it accepts connections. Exits on SIGTERM or SIGINT, and
// when its standard input closes (so it never outlives the process that
// started it with a pipe there).
//
// A component gets the job's `data` parsed from JSON inside the bundle's
// context (`null` when the job has none), as the service gives props, and
// Hypernova gets whatever it returns: a string, a Promise, or anything else.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { loadBundle } from "../node/runtime.mjs";

const require = createRequire(import.meta.url);
// Loads airbnb-js-shims and makes Bluebird the global Promise: one more
// reason this runs in a process of its own.
const hypernova = require("hypernova/server");

const file = process.argv[2];
if (!file) {
  process.stderr.write("usage: node reference-server.mjs BUNDLE\n");
  process.exit(2);
}

let realm;
const runtime = loadBundle(readFileSync(file, "utf8"), {
  filename: path.resolve(file),
  // Captured before the bundle runs, like the runtime's own helpers.
  prepare(global) {
    realm = new global.Function(
      "const parse = JSON.parse; return { parse: (text) => parse(text), context: (component) => ({ component }) };",
    )();
  },
});

function getComponent(name) {
  const render = runtime.components.get(name);
  if (render === undefined) return null;
  return (data) => render(realm.parse(JSON.stringify(data === undefined ? null : data)), realm.context(name));
}

const silent = process.env.HYPERNOVA_LOG !== "1";
const loggerInstance = {
  log(level, message, meta) {
    if (!silent) process.stderr.write(`hypernova ${level}: ${message}${meta ? ` ${JSON.stringify(meta)}` : ""}\n`);
  },
};

function createApplication() {
  const app = hypernova.createApplication();
  const listen = app.listen.bind(app);
  app.listen = (...args) => {
    const server = listen(...args);
    server.once("listening", () => {
      process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
    });
    return server;
  };
  return app;
}

hypernova({
  devMode: true,
  getComponent,
  createApplication,
  listenArgs: [0, "127.0.0.1"],
  loggerInstance,
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
