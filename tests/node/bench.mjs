#!/usr/bin/env node
// Node baseline for render throughput.
//
//   node tests/node/bench.mjs --bundle FILE --component NAME \
//       [--props-file FILE | --props JSON] [--seconds N] [--warmup N]
//
// Loads the bundle in the reference runtime (runtime.mjs), then renders the
// component in a tight single-threaded loop: each iteration parses the props
// JSON text inside the bundle's context (as the service does per request)
// and calls the component's render function; a Promise result is awaited,
// a string result is not. The first --warmup seconds (default 1) are not
// measured. Prints one JSON line:
//
//   {"renders": n, "seconds": s, "rendersPerSec": r, "meanUs": m}
//
// (plus "htmlBytes": the UTF-8 length of one rendered output).

import { readFileSync } from "node:fs";
import { loadBundle } from "./runtime.mjs";

function usage(message) {
  if (message) process.stderr.write(`bench.mjs: ${message}\n`);
  process.stderr.write(
    "usage: bench.mjs --bundle FILE --component NAME [--props-file FILE | --props JSON] [--seconds N] [--warmup N]\n",
  );
  process.exit(64);
}

const known = new Set(["--bundle", "--component", "--props-file", "--props", "--seconds", "--warmup"]);
const args = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "-h" || argv[i] === "--help") usage();
  if (!known.has(argv[i])) usage(`unknown argument ${argv[i]}`);
  if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
  args[argv[i].slice(2)] = argv[++i];
}
if (!args.bundle || !args.component) usage("--bundle and --component are required");
const seconds = args.seconds === undefined ? 5 : Number(args.seconds);
const warmup = args.warmup === undefined ? 1 : Number(args.warmup);
if (!(seconds > 0) || !(warmup >= 0)) usage("--seconds must be > 0 and --warmup >= 0");

let propsJson = "{}";
if (args["props-file"]) propsJson = readFileSync(args["props-file"], "utf8");
else if (args.props) propsJson = args.props;
JSON.parse(propsJson); // fail early on bad JSON

const bundle = loadBundle(readFileSync(args.bundle, "utf8"), { filename: args.bundle });
if (!bundle.components.has(args.component)) usage(`component ${args.component} is not registered`);

const name = args.component;
const first = await bundle.renderJsonSync(name, propsJson);
const htmlBytes = Buffer.byteLength(first, "utf8");

// Renders synchronously until `count` renders are done or a render returns a
// Promise, which is handed back unawaited, so components that return strings
// never pay for an await.
let sink = 0;
function renderBatch(count, state) {
  for (let i = 0; i < count; i++) {
    const html = bundle.renderJsonSync(name, propsJson);
    state.renders++;
    if (typeof html !== "string") return html;
    sink += html.length;
  }
  return undefined;
}

// Runs renders until `durationMs` has elapsed; returns [renders, elapsedMs].
async function loop(durationMs) {
  const state = { renders: 0 };
  const start = performance.now();
  const end = start + durationMs;
  let now = start;
  while (now < end) {
    // Check the clock every few renders for very fast components.
    const pending = renderBatch(8, state);
    if (pending !== undefined) sink += (await pending).length;
    now = performance.now();
  }
  return [state.renders, now - start];
}

if (warmup > 0) await loop(warmup * 1000);
const [renders, elapsedMs] = await loop(seconds * 1000);
bundle.dispose();
if (sink === 0) throw new Error("empty output");

const elapsed = elapsedMs / 1000;
const result = {
  renders,
  seconds: Number(elapsed.toFixed(3)),
  rendersPerSec: Number((renders / elapsed).toFixed(1)),
  meanUs: Number(((elapsedMs * 1000) / renders).toFixed(1)),
  htmlBytes,
};
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
