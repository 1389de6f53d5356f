#!/usr/bin/env node
// Starts each baseline server on the fixture bundles and checks that
// POST /render returns byte-for-byte what tests/node/render.mjs prints for
// the same component and props, plus the status codes of the error paths.
//
//   node loadtest/node/check.mjs            (after tests/setup.sh and setup.sh)
//
// Prints one line per check and `N passed, N failed` at the end; exits 1 on
// any failure.

import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const build = path.join(root, "tests/fixtures/build");
const renderScript = path.join(root, "tests/node/render.mjs");

if (!existsSync(path.join(build, "pages.js"))) {
  process.stderr.write("check: tests/fixtures/build/pages.js is missing; run tests/setup.sh first\n");
  process.exit(2);
}

const SAME_BYTES = [
  ["pages.js", "Table", {}],
  ["pages.js", "App", {}],
  ["pages.js", "Divs", {}],
  ["basic.js", "Hello", { name: "x" }],
  ["basic.js", "Async", {}],
  ["basic.js", "Unicode", {}],
  ["basic.js", "Echo", { a: [1, "é", null], b: { c: true } }],
  ["mixed.js", "Page", { rows: 50 }],
];

// [bundle, request body, expected status, expected error code]
const STATUS = [
  ["basic.js", { component: "Nope", props: {} }, 404, "unknown_component"],
  ["basic.js", { component: "Throws", props: {} }, 500, "render_error"],
  ["basic.js", { component: "Hello", extra: 1 }, 400, "bad_request"],
  ["throw-values.js", { component: "ThrowString" }, 500, "render_error"],
  ["throw-values.js", { component: "ThrowGetter" }, 500, "render_error"],
  ["mixed.js", { component: "Throw" }, 500, "render_error"],
  ["never.js", { component: "Never", timeoutMs: 300 }, 504, "timeout"],
  ["timer-loop.js", { component: "TimerLoop", timeoutMs: 300 }, 504, "timeout"],
];
// Only the isolate server can stop synchronous JS and survive heap exhaustion.
const IVM_ONLY = [
  ["loop.js", { component: "Loop", timeoutMs: 300 }, 504, "timeout"],
  ["promise-loop.js", { component: "PromiseLoop", timeoutMs: 300 }, 504, "timeout"],
  ["alloc.js", { component: "AllocArrays", timeoutMs: 10000 }, 503, "out_of_memory"],
  ["mixed.js", { component: "Loop", timeoutMs: 300 }, 504, "timeout"],
  ["mixed.js", { component: "Alloc", timeoutMs: 10000 }, 503, "out_of_memory"],
  ["mixed.js", { component: "Alloc", timeoutMs: 10000 }, 503, "out_of_memory"],
  ["mixed.js", { component: "Alloc", timeoutMs: 10000 }, 503, "out_of_memory"],
];

const servers = {
  cluster: (bundle) => ["node", [path.join(here, "cluster-server.mjs"), "--port", "0", "--bundle", bundle, "--workers", "2"]],
  ivm: (bundle) => [
    "node",
    ["--no-node-snapshot", path.join(here, "ivm-server.mjs"), "--port", "0", "--bundle", bundle, "--isolates", "2", "--memory-limit", "64"],
  ],
};

let passed = 0;
let failed = 0;
function report(ok, what, detail = "") {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? "ok  " : "FAIL"} ${what}${detail ? `: ${detail}` : ""}\n`);
}

async function startServer(kind, bundle) {
  const [cmd, argv] = servers[kind](path.join(build, bundle));
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${kind} did not get ready: ${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const match = /^ready (\d+)/m.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`${kind} exited with ${code}: ${stderr}`)));
  });
  return { child, port, stderr: () => stderr };
}

async function post(port, body) {
  const response = await fetch(`http://127.0.0.1:${port}/render`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get("content-type"), bytes: Buffer.from(await response.arrayBuffer()) };
}

function reference(bundle, component, props) {
  return execFileSync("node", [renderScript, "--bundle", path.join(build, bundle), "--component", component, "--props", JSON.stringify(props)], {
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "ignore"],
  });
}

const kinds = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(servers);
const byBundle = new Map();
for (const [bundle, component, props] of SAME_BYTES) {
  if (!byBundle.has(bundle)) byBundle.set(bundle, { same: [], status: [] });
  byBundle.get(bundle).same.push([component, props, reference(bundle, component, props)]);
}
for (const kind of kinds) {
  const cases = kind === "ivm" ? [...STATUS, ...IVM_ONLY] : STATUS;
  const plan = new Map([...byBundle].map(([b, v]) => [b, { same: v.same, status: [] }]));
  for (const [bundle, body, status, code] of cases) {
    if (!plan.has(bundle)) plan.set(bundle, { same: [], status: [] });
    plan.get(bundle).status.push([body, status, code]);
  }
  for (const [bundle, { same, status }] of plan) {
    const server = await startServer(kind, bundle);
    try {
      const ready = await fetch(`http://127.0.0.1:${server.port}/ready`);
      report(ready.status === 200, `${kind} ${bundle} /ready`, String(ready.status));
      for (const [component, props, expected] of same) {
        const got = await post(server.port, { component, props });
        const ok = got.status === 200 && got.type === "text/html; charset=utf-8" && got.bytes.equals(expected);
        report(ok, `${kind} ${bundle} ${component} same bytes`, ok ? `${expected.length} B` : `status ${got.status}, ${got.bytes.length} vs ${expected.length} B`);
      }
      for (const [body, wantStatus, wantCode] of status) {
        const got = await post(server.port, body);
        let code;
        try {
          code = JSON.parse(got.bytes.toString()).error.code;
        } catch {
          code = "(no JSON error)";
        }
        report(got.status === wantStatus && code === wantCode, `${kind} ${bundle} ${body.component} -> ${wantStatus} ${wantCode}`, `${got.status} ${code}`);
      }
      // Still serving after the error paths.
      if (status.length && same.length) {
        const [component, props, expected] = same[0];
        const got = await post(server.port, { component, props });
        report(got.status === 200 && got.bytes.equals(expected), `${kind} ${bundle} still renders after errors`);
      }
    } finally {
      server.child.kill("SIGTERM");
      await new Promise((resolve) => server.child.once("exit", resolve));
    }
  }
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
