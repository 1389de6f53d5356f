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

import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadStreamPage } from "../../tests/node/stream-page.mjs";
import { KEEP_ALIVE_TIMEOUT_MS, runCluster } from "./http-common.mjs";

await runCluster("stream-server", { defaultPort: 3002 }, runWorker);

async function runWorker({ port, host }) {
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
  server.listen(port, host);
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
