#!/usr/bin/env node
// A local HTTP upstream for the renders that fetch (tests/fixtures/src/
// fetch-page.jsx and fetch-probes.js) and for the fetch benchmark.
//
//   node tests/node/upstream.mjs [--port 0] [--host 127.0.0.1]
//
// Prints `listening <port>` on stdout once it accepts connections; SIGTERM
// or SIGINT closes every connection (hanging ones included) and exits 0.
//
// Routes:
//   GET  /items?section=S&delay=MS&rows=N  after MS ms: {section, rows: [{id, label, price}]},
//                                          the same content for the same query
//   GET  /redirect?to=URL                  302 to URL
//   GET  /big?bytes=N[&chunked=1]          N bytes ("x"); with chunked=1 no
//                                          Content-Length, so the size shows only while reading
//   GET  /hang                             never answers; the socket stays open
//   GET  /echo-headers                     the request's headers as JSON
//   GET  /stats                            {requests, openConnections, closedConnections, traceIds}
//   POST /stats/reset                      zeroes requests, closedConnections and traceIds
//
// Keep-alive is on. The counters are per socket and leave out the sockets
// used for /stats, so polling them does not change them: a socket counts
// from its first other request until it closes. `traceIds` counts the
// requests per `x-trace-id` header value, to see which ones a render sent.
import http from "node:http";

const MAX_DELAY_MS = 60_000;
const MAX_ROWS = 100_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const BIG_CHUNK = Buffer.alloc(64 * 1024, "x");

const stats = { requests: 0, openConnections: 0, closedConnections: 0, traceIds: {} };
const counted = new WeakSet();

// The rows of section `id`: fixed by `id` and `count`, with non-ASCII text.
function itemRows(id, count) {
  const rows = [];
  for (let i = 0; i < count; i++) {
    rows.push({ id: `${id}-${i}`, label: `${id} item ${i + 1}: thé, café & crème — ×${i % 7} ✓ 日本`, price: ((i * 37) % 1000) / 10 });
  }
  return rows;
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

// A query number in [0, max], or `fallback` when absent or not a number.
function bounded(query, name, fallback, max) {
  const n = Number(query.get(name) ?? fallback);
  return Number.isFinite(n) ? Math.min(Math.max(Math.trunc(n), 0), max) : fallback;
}

function items(req, res, query) {
  const section = query.get("section") ?? "main";
  const rows = itemRows(section, bounded(query, "rows", 10, MAX_ROWS));
  const timer = setTimeout(() => sendJson(res, 200, { section, rows }), bounded(query, "delay", 0, MAX_DELAY_MS));
  // A caller that gave up must not get its answer written later.
  res.on("close", () => clearTimeout(timer));
}

function redirect(req, res, query) {
  const to = query.get("to");
  if (!to) return sendJson(res, 400, { error: "missing ?to=" });
  res.writeHead(302, { location: to, "content-length": 0 });
  res.end();
}

// Writes `bytes` bytes in 64 KiB chunks, as fast as the reader takes them.
function big(req, res, query) {
  let left = bounded(query, "bytes", 0, Number.MAX_SAFE_INTEGER);
  const headers = { "content-type": "application/octet-stream" };
  if (query.get("chunked") !== "1") headers["content-length"] = left;
  res.writeHead(200, headers);
  const write = () => {
    while (left > 0) {
      const chunk = left >= BIG_CHUNK.length ? BIG_CHUNK : BIG_CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!res.write(chunk)) return void res.once("drain", write);
    }
    res.end();
  };
  write();
}

const ROUTES = {
  "GET /items": items,
  "GET /redirect": redirect,
  "GET /big": big,
  "GET /hang": () => {},
  "GET /echo-headers": (req, res) => sendJson(res, 200, req.headers),
  "GET /stats": (req, res) => sendJson(res, 200, stats),
  "POST /stats/reset": (req, res) => {
    Object.assign(stats, { requests: 0, closedConnections: 0, traceIds: {} });
    sendJson(res, 200, stats);
  },
};

// Counts the request and, from its first request not to /stats, its socket.
function count(req, path) {
  if (path.startsWith("/stats")) return;
  stats.requests++;
  const traceId = req.headers["x-trace-id"];
  if (traceId !== undefined) stats.traceIds[traceId] = (stats.traceIds[traceId] ?? 0) + 1;
  const socket = req.socket;
  if (counted.has(socket)) return;
  counted.add(socket);
  stats.openConnections++;
  socket.once("close", () => {
    stats.openConnections--;
    stats.closedConnections++;
  });
}

function handle(req, res) {
  const url = new URL(req.url, "http://upstream");
  count(req, url.pathname);
  const route = ROUTES[`${req.method} ${url.pathname}`];
  // Requests here have no body worth reading; drain whatever was sent.
  req.resume();
  if (route === undefined) return sendJson(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
  route(req, res, url.searchParams);
}

function parseArgs(argv) {
  const args = { port: 0, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    const value = name === "port" ? Number(argv[i + 1]) : argv[i + 1];
    if (!(name in args) || value === undefined || Number.isNaN(value)) {
      process.stderr.write(`usage: upstream.mjs [--port 0] [--host 127.0.0.1] (bad argument ${argv[i]})\n`);
      process.exit(64);
    }
    args[name] = value;
  }
  return args;
}

function main() {
  const { port, host } = parseArgs(process.argv.slice(2));
  const server = http.createServer(handle);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Must exceed keepAliveTimeout, or idle keep-alive sockets are cut early.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  // /hang and slow readers of /big are meant to last.
  server.requestTimeout = 0;
  server.listen(port, host, () => process.stdout.write(`listening ${server.address().port}\n`));
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
