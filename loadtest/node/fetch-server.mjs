#!/usr/bin/env node
// The Node baseline of the fetch benchmark: a node:cluster server whose N
// workers each render the page of tests/fixtures/src/fetch-page.jsx with
// react-dom/server's renderToPipeableStream, its sections fetching their
// data from `props.api` (tests/node/upstream.mjs) with Node's built-in
// fetch, piped into the response as the data arrives.
//
//   node loadtest/node/fetch-server.mjs --port P [--workers N] [--host ADDR]
//
// POST /render {"component", "props"} with component
//   FetchPage        streamed: the shell, then each section as its data arrives
//   FetchPageString  the whole page once all data is in (as the bundle's
//                    FetchPageString: no fallbacks, no scripts)
//   PropsPage        streamed, the rows in `props.data`: nothing to fetch
// An `x-trace-id` request header is passed to the page as
// `context.headers`, as the service does for the headers it lets through.
// GET /ready answers 200 once the worker listens.

import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { loadFixtureModule } from "../../tests/node/fixture-module.mjs";
import { KEEP_ALIVE_TIMEOUT_MS, runCluster } from "./http-common.mjs";

await runCluster("fetch-server", { defaultPort: 3003 }, runWorker);

function sendError(res, status, code, message) {
  const body = JSON.stringify({ error: { status, code, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

async function runWorker({ port, host }) {
  // The page's own React (the fixtures' node_modules), so the element and
  // the renderer share one React.
  const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../tests/fixtures");
  const require = createRequire(path.join(fixtures, "package.json"));
  const { createElement } = require("react");
  const { renderToPipeableStream } = require("react-dom/server");
  const { Page, fetchedRows, propsRows } = await loadFixtureModule("fetch-page.jsx");

  // component -> how its rows are had and when the response starts.
  const modes = {
    FetchPage: { rows: fetchedRows, start: "onShellReady" },
    FetchPageString: { rows: fetchedRows, start: "onAllReady", options: { progressiveChunkSize: Infinity } },
    PropsPage: { rows: propsRows, start: "onShellReady" },
  };

  function render(req, res, { component, props }) {
    props ??= {};
    const mode = modes[component];
    if (mode === undefined) return sendError(res, 404, "unknown_component", `Component "${component}" not registered`);
    // Aborts the page's fetches when the client leaves (or once it is served).
    const controller = new AbortController();
    const traceId = req.headers["x-trace-id"];
    const context = { component, signal: controller.signal, headers: traceId === undefined ? {} : { "x-trace-id": traceId } };
    let rowsOf;
    try {
      rowsOf = mode.rows(props, context);
    } catch (error) {
      return sendError(res, 500, "render_error", `render threw ${error.name}: ${error.message}`);
    }
    const element = createElement(Page, { title: props.title, sections: props.sections, rowsOf });
    const stream = renderToPipeableStream(element, {
      ...mode.options,
      [mode.start]() {
        res.setHeader("content-type", "text/html; charset=utf-8");
        stream.pipe(res);
      },
      // The fetches this server aborted when the client left fail their
      // boundaries: expected, not worth a log line each.
      onError(error) {
        if (!controller.signal.aborted) console.error(error);
      },
      onShellError() {
        sendError(res, 500, "render_error", "the page's shell failed");
      },
    });
    res.on("close", () => {
      stream.abort();
      controller.abort();
    });
  }

  const server = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ready") return res.end("ready");
    if (req.method !== "POST" || req.url !== "/render") return sendError(res, 404, "not_found", `no route for ${req.method} ${req.url}`);
    const body = [];
    req.on("data", (chunk) => body.push(chunk));
    req.on("end", () => {
      let request;
      try {
        request = JSON.parse(Buffer.concat(body).toString("utf8"));
      } catch (error) {
        return sendError(res, 400, "bad_request", `invalid render request: ${error.message}`);
      }
      render(req, res, request ?? {});
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.listen(port, host);
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
