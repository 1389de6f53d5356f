// Test helpers: start the real ssr-pool binary on a free port, a TCP proxy
// that counts connections, and bundles assembled from the fixture builds.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(here, "../..");
export const repoRoot = path.resolve(packageDir, "../..");

export const serverBin = path.resolve(packageDir, process.env.SSR_POOL_BIN ?? "../../target/debug/ssr-pool");
export const fixtureDir = path.join(repoRoot, "tests/fixtures/build");
export const exampleDir = path.join(repoRoot, "examples/app");

export function fixture(name) {
  const file = path.join(fixtureDir, `${name}.js`);
  if (!existsSync(file)) {
    throw new Error(`missing fixture bundle ${file}: run tests/setup.sh first`);
  }
  return file;
}

/** A classic-script bundle made of several fixture bundles, one after another. */
export function combinedBundle(...names) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ssr-client-test-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, `${names.join("+")}.js`);
  writeFileSync(file, names.map((name) => readFileSync(fixture(name), "utf8")).join("\n;\n"));
  return file;
}

export async function freePort() {
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

/**
 * Starts `ssr-pool serve` with `bundle` and waits until GET /ready is 200.
 * Returns {url, port, child, stop(), stderr()}.
 */
export async function startServer({ bundle, args = [], port } = {}) {
  if (!existsSync(serverBin)) {
    throw new Error(`ssr-pool binary not found at ${serverBin} (set SSR_POOL_BIN)`);
  }
  const listenPort = port ?? (await freePort());
  const argv = [
    "serve",
    "--listen",
    `127.0.0.1:${listenPort}`,
    "--workers",
    "1",
    "--warmup-renders",
    "0",
    "--no-cache",
    ...(bundle ? ["--bundle", bundle] : []),
    ...args,
  ];
  const child = spawn(serverBin, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    log += chunk;
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${listenPort}`;
  const started = Date.now();
  for (;;) {
    const done = await Promise.race([exited, new Promise((r) => setTimeout(r, 50, null))]);
    if (done) throw new Error(`ssr-pool exited early (${JSON.stringify(done)}):\n${log}`);
    try {
      const res = await fetch(`${url}/ready`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 15_000) {
      child.kill("SIGKILL");
      throw new Error(`ssr-pool did not become ready within 15 s:\n${log}`);
    }
  }
  let stopped;
  return {
    url,
    port: listenPort,
    child,
    stderr: () => log,
    /** SIGTERM and wait for the exit; resolves with {code, signal}. */
    stop() {
      if (!stopped) {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        stopped = Promise.race([
          exited,
          new Promise((resolve) =>
            setTimeout(() => {
              child.kill("SIGKILL");
              resolve(exited);
            }, 10_000).unref(),
          ),
        ]);
      }
      return stopped;
    },
  };
}

/**
 * A TCP proxy in front of `target` (host:port) counting the connections it
 * accepts, i.e. the connections a client opens to the service.
 */
export async function startCountingProxy(targetPort) {
  const sockets = new Set();
  let connections = 0;
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size / 2;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Collects calls of `onError`. */
export function errorLog() {
  const calls = [];
  const onError = (error, info) => {
    calls.push({ error, info });
  };
  return { calls, onError };
}
