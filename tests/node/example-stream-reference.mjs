#!/usr/bin/env node
// A streamed page of the example app (examples/app/src) rendered by Node
// itself, with Node's own streams and the app's own react and react-dom: the
// bytes the service's streamed render of examples/app/dist/server.js must
// match.
//
//   node tests/node/example-stream-reference.mjs --component NAME [--props JSON]
//
// Writes the concatenated chunks to stdout, byte-exact.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const app = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/app");

const { component, props } = options();
const render = (await loadRenders()).get(component);
if (!render) fail(`"${component}" is not registered by examples/app/src/server.js`);
const stream = await render(JSON.parse(props), { component, signal: new AbortController().signal });
if (!(stream instanceof ReadableStream)) fail(`"${component}" is not streamed: its render gave ${typeof stream}`);
const reader = stream.getReader();
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  await new Promise((resolve, reject) => process.stdout.write(value, (e) => (e ? reject(e) : resolve())));
}

function options() {
  try {
    const { values } = parseArgs({
      options: { component: { type: "string" }, props: { type: "string", default: "{}" } },
    });
    if (values.component) return values;
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
  }
  process.stderr.write("usage: example-stream-reference.mjs --component NAME [--props JSON]\n");
  process.exit(64);
}

function fail(message) {
  process.stderr.write(`example-stream-reference.mjs: ${message}\n`);
  process.exit(1);
}

/** Builds the app's server entry for Node and runs it: its renders by name. */
async function loadRenders() {
  // esbuild is a dependency of the example app.
  const esbuild = createRequire(path.join(app, "package.json"))("esbuild");
  // Inside the app's node_modules, so the imports of react and react-dom left
  // in the output resolve to the app's copies.
  const outfile = path.join(app, "node_modules", ".cache", `server.node-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(app, "src", "server.js")],
    outfile,
    absWorkingDir: app,
    bundle: true,
    // @ssr-pool/react and the app's sources are bundled; React is not.
    external: ["react", "react/*", "react-dom", "react-dom/*"],
    // The renderer the server bundle has (see examples/app/build.mjs).
    alias: { "react-dom/server": "react-dom/server.edge" },
    format: "esm",
    platform: "node",
    target: "es2022",
    jsx: "automatic",
    logLevel: "warning",
  });
  const renders = new Map();
  globalThis.SsrPool = { register: (name, fn) => renders.set(name, fn) };
  process.env.NODE_ENV = "production";
  try {
    await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(outfile, { force: true });
  }
  return renders;
}
