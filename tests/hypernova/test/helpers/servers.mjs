// Starts the two servers the parity test compares, on the same bundle: the
// service binary and the reference Hypernova server (reference-server.mjs),
// each on an ephemeral port of 127.0.0.1; and sends them raw HTTP requests.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(here, "../..");
export const repoRoot = path.resolve(packageDir, "../..");

// $SSR_POOL_BIN relative to the working directory (the package's, under npm
// test), else the debug build of the repository.
export const serviceBin = process.env.SSR_POOL_BIN
  ? path.resolve(process.env.SSR_POOL_BIN)
  : path.join(repoRoot, "target/debug/ssr-pool");
const fixtureDir = path.join(repoRoot, "tests/fixtures/build");

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

// Every child still running when this process exits is killed.
const children = new Set();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

function fixture(name) {
  const file = path.join(fixtureDir, `${name}.js`);
  if (!existsSync(file)) throw new Error(`missing fixture bundle ${file}: run tests/setup.sh first`);
  return file;
}

/** One classic-script bundle made of several fixture bundles, in this order. */
export function combinedBundle(...names) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ssr-hypernova-parity-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, `${names.join("+")}.js`);
  writeFileSync(file, names.map((name) => readFileSync(fixture(name), "utf8")).join("\n;\n"));
  return file;
}

async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function track(child, label) {
  children.add(child);
  let log = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  let stopping;
  return {
    label,
    child,
    exited,
    log: () => log,
    /** SIGTERM, SIGKILL after a grace period; resolves once the process is gone. */
    stop() {
      if (!stopping) {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        timer.unref();
        stopping = exited.finally(() => clearTimeout(timer));
      }
      return stopping;
    },
  };
}

async function failStart(proc, message) {
  proc.child.kill("SIGKILL");
  await proc.exited;
  throw new Error(`${proc.label}: ${message}\n${proc.log()}`);
}

/** The service binary on `bundle`, once GET /ready answers 200. */
export async function startService(bundle) {
  if (!existsSync(serviceBin)) {
    throw new Error(`ssr-pool binary not found at ${serviceBin} (build it or set SSR_POOL_BIN)`);
  }
  const port = await freePort();
  const argv = [
    "serve",
    "--bundle",
    bundle,
    "--listen",
    `127.0.0.1:${port}`,
    "--workers",
    "1",
    "--warmup-renders",
    "0",
    "--no-cache",
  ];
  const proc = track(spawn(serviceBin, argv, { stdio: ["ignore", "ignore", "pipe"] }), "ssr-pool");
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    const done = await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 50, null))]);
    if (done) await failStart(proc, `exited before it was ready (${JSON.stringify(done)})`);
    try {
      const reply = await send(url, { method: "GET", path: "/ready" });
      if (reply.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > START_TIMEOUT_MS) await failStart(proc, `not ready within ${START_TIMEOUT_MS} ms`);
  }
  return { ...proc, url };
}

/** The reference Hypernova server on `bundle`, once it listens. */
export async function startReference(bundle) {
  // stdin stays a pipe: the server exits when it closes.
  const child = spawn(process.execPath, [path.join(packageDir, "reference-server.mjs"), bundle], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const proc = track(child, "reference hypernova");
  child.stdout.setEncoding("utf8");
  const listening = new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const line = out.split("\n", 2);
      if (line.length === 2) resolve(JSON.parse(line[0]).port);
    });
  });
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, START_TIMEOUT_MS, "timeout");
  });
  const first = await Promise.race([listening, proc.exited, timeout]);
  clearTimeout(timer);
  if (first === "timeout") await failStart(proc, `not listening within ${START_TIMEOUT_MS} ms`);
  if (typeof first !== "number") await failStart(proc, `exited before it listened (${JSON.stringify(first)})`);
  return { ...proc, url: `http://127.0.0.1:${first}` };
}

/**
 * One HTTP request on a connection of its own. `body` (string or Buffer) is
 * sent as is, with its exact Content-Length, or with chunked transfer
 * encoding (in 64 KiB chunks) when `chunked`. Resolves with
 * {status, headers (lower-case names), body (UTF-8 text)}.
 */
export function send(url, { method = "POST", path: urlPath = "/batch", headers = {}, body, chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const request = http.request(
      `${url}${urlPath}`,
      {
        method,
        agent: false,
        headers:
          payload === undefined || chunked ? headers : { ...headers, "Content-Length": String(payload.length) },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () =>
          resolve({
            status: response.statusCode,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    request.setTimeout(60_000, () => request.destroy(new Error(`no answer from ${url}${urlPath} within 60 s`)));
    request.on("error", reject);
    if (chunked && payload !== undefined) {
      for (let at = 0; at < payload.length; at += 65_536) request.write(payload.subarray(at, at + 65_536));
      request.end();
    } else {
      request.end(payload);
    }
  });
}
