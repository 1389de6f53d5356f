#!/usr/bin/env node
// Renders components of a server bundle with the Node reference runtime.
//
// Single render (HTML on stdout, byte-exact, no newline added):
//   node tests/node/render.mjs --bundle FILE --component NAME [--props-file FILE | --props JSON]
//
// Batch (one Node start, many renders; JSON array on stdout):
//   node tests/node/render.mjs --bundle FILE --jobs FILE
//   FILE holds [{"component": "Hello", "props": {...}}, ...]; the output is one
//   entry per job, in order: {"html": "..."} or {"error": {"name", "message"}}.
//   Jobs run one after another in the same context (like consecutive requests
//   on one service worker).
//
// Options:
//   --timeout-ms N  give up on a render that has not settled after N ms
//                   (default 30000). Only asynchronous waits can be cut
//                   short; a synchronous infinite loop cannot be interrupted.
//
// Exit status: 0 on success (batch mode: even if some jobs failed),
// 1 when the single render failed (error on stderr), 2 when the bundle failed
// to load (error on stderr), 64 on bad usage.
//
// Anything the bundle logs through `console` goes to stderr.

import { readFileSync } from "node:fs";
import { describeError, loadBundle } from "./runtime.mjs";

function usage(message) {
  if (message) process.stderr.write(`render.mjs: ${message}\n`);
  process.stderr.write(
    "usage: render.mjs --bundle FILE (--component NAME [--props-file FILE | --props JSON] | --jobs FILE) [--timeout-ms N]\n",
  );
  process.exit(64);
}

function parseArgs(argv) {
  const known = new Set(["--bundle", "--component", "--props-file", "--props", "--jobs", "--timeout-ms"]);
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "-h" || flag === "--help") usage();
    if (!known.has(flag)) usage(`unknown argument ${flag}`);
    if (i + 1 >= argv.length) usage(`${flag} needs a value`);
    args[flag.slice(2)] = argv[++i];
  }
  return args;
}

function readJson(file, what) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    usage(`cannot read ${what} ${file}: ${error.message}`);
  }
}

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`render of "${name}" did not settle within ${ms} ms`);
      error.name = "TimeoutError";
      reject(error);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function writeOut(text) {
  await new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

// A closed stdout (e.g. piped into `head`) is not an error worth a trace.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args.bundle) usage("--bundle is required");
  if (!args.component === !args.jobs) usage("exactly one of --component or --jobs is required");
  if (args["props-file"] && args.props) usage("use either --props-file or --props");
  const timeoutMs = args["timeout-ms"] === undefined ? 30000 : Number(args["timeout-ms"]);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage("--timeout-ms must be a positive number");

  let jobs;
  if (args.jobs) {
    jobs = readJson(args.jobs, "jobs file");
    if (!Array.isArray(jobs)) usage("the jobs file must contain a JSON array");
  }
  let props = {};
  if (args["props-file"]) props = readJson(args["props-file"], "props file");
  else if (args.props) {
    try {
      props = JSON.parse(args.props);
    } catch (error) {
      usage(`--props is not valid JSON: ${error.message}`);
    }
  }

  let code;
  try {
    code = readFileSync(args.bundle, "utf8");
  } catch (error) {
    usage(`cannot read bundle ${args.bundle}: ${error.message}`);
  }

  let bundle;
  try {
    bundle = loadBundle(code, { filename: args.bundle });
  } catch (error) {
    const { name, message } = describeError(error);
    process.stderr.write(`render.mjs: bundle failed to load: ${name}: ${message}\n`);
    return 2;
  }

  try {
    if (jobs) {
      const results = [];
      for (const job of jobs) {
        try {
          const html = await withTimeout(bundle.render(job.component, job.props ?? {}), timeoutMs, job.component);
          results.push({ html });
        } catch (error) {
          results.push({ error: describeError(error) });
        }
      }
      await writeOut(JSON.stringify(results));
      return 0;
    }
    try {
      const html = await withTimeout(bundle.render(args.component, props), timeoutMs, args.component);
      await writeOut(html);
      return 0;
    } catch (error) {
      const { name, message } = describeError(error);
      process.stderr.write(`render.mjs: render failed: ${name}: ${message}\n`);
      return 1;
    }
  } finally {
    bundle.dispose();
  }
}

process.exitCode = await main();
// Timers or pending work left behind by a bundle must not keep us alive.
process.exit();
