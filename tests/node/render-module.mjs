#!/usr/bin/env node
// Node's own renders of an ES module bundle: Node imports the entry (and,
// through it, its chunks) natively, so import resolution, top-level await
// and import.meta are Node's.
//
//   node tests/node/render-module.mjs ENTRY JOBS_FILE
//
// JOBS_FILE holds [{"component": "Home", "props": {...}}, ...]; the output
// is one entry per job, in order: {"html": "..."} or {"error": {"name",
// "message"}}, as tests/node/render.mjs prints them.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [entry, jobsFile] = process.argv.slice(2);
if (!entry || !jobsFile) {
  process.stderr.write("usage: render-module.mjs ENTRY JOBS_FILE\n");
  process.exit(64);
}
const renders = new Map();
globalThis.SsrPool = { register: (name, render) => renders.set(name, render) };
await import(pathToFileURL(path.resolve(entry)).href);

const results = [];
for (const { component, props } of JSON.parse(readFileSync(jobsFile, "utf8"))) {
  try {
    const render = renders.get(component);
    if (!render) throw new Error(`Component "${component}" not registered`);
    results.push({ html: await render(props, { component }) });
  } catch (error) {
    results.push({ error: { name: error?.name ?? typeof error, message: String(error?.message ?? error) } });
  }
}
process.stdout.write(JSON.stringify(results));
