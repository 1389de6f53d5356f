#!/usr/bin/env node
// The Node baseline of the streaming benchmark: a node:cluster server whose
// N workers each render the streaming Suspense page of the tests
// (tests/fixtures/src/stream-page.jsx) with react-dom/server's
// renderToPipeableStream, piped into the response as Node's own streams
// produce it: the shell once it is ready, each boundary as its data arrives.
//
//   node loadtest/node/stream-server.mjs --port P [--workers N] [--host ADDR]
//
// POST /render {"component": any, "props": {...}} streams the page for the
// props (the component name is ignored: the server has one page); GET
// /ready answers 200 once the worker listens.

import cluster from "node:cluster";
import http from "node:http";
import os from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadStreamPage } from "../../tests/node/stream-page.mjs";
import { KEEP_ALIVE_TIMEOUT_MS, integer, parseArgs } from "./http-common.mjs";

const args = parseArgs(
  process.argv.slice(2),
  {
    port: { default: 3002, parse: integer(0), help: "TCP port (0 = any free port)" },
    host: { default: "127.0.0.1", help: "address to listen on" },
    workers: { default: os.availableParallelism(), parse: integer(1), help: "worker processes" },
  },
  "stream-server.mjs --port P [--workers N] [--host ADDR]",
);

if (cluster.isPrimary) {
  for (let i = 0; i < args.workers; i++) cluster.fork();
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    if (++listening === args.workers) process.stdout.write(`ready ${address.port}\n`);
  });
  cluster.on("exit", (worker, code) => {
    process.stderr.write(`stream-server: worker ${worker.process.pid} exited with ${code}\n`);
    process.exit(1);
  });
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.kill("SIGTERM");
    process.exit(0);
  });
} else {
  await runWorker();
}

async function runWorker() {
  // The page's own React (the fixtures' node_modules), so the element and
  // the renderer share one React.
  const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../tests/fixtures");
  const require = createRequire(path.join(fixtures, "package.json"));
  const { createElement } = require("react");
  const { renderToPipeableStream } = require("react-dom/server");
  const { Page, createStore } = await loadStreamPage();

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ready") return res.end("ready");
    if (req.method !== "POST" || req.url !== "/render") {
      res.statusCode = 404;
      return res.end();
    }
    const body = [];
    req.on("data", (chunk) => body.push(chunk));
    req.on("end", () => {
      let props;
      try {
        props = JSON.parse(Buffer.concat(body).toString("utf8")).props ?? {};
      } catch {
        res.statusCode = 400;
        return res.end();
      }
      const element = createElement(Page, { ...props, store: createStore(props) });
      const stream = renderToPipeableStream(element, {
        onShellReady() {
          res.setHeader("content-type", "text/html; charset=utf-8");
          stream.pipe(res);
        },
        onShellError() {
          res.statusCode = 500;
          res.end();
        },
      });
      res.on("close", () => stream.abort());
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.listen(args.port, args.host);
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
