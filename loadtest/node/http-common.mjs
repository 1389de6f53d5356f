// What the Node baseline servers (cluster-server.mjs and ivm-server.mjs)
// share: their common command-line flags, start-up failure and shutdown, and
// the HTTP front end. It speaks the subset of the ssr-pool HTTP API that the
// load generator uses, with the same status codes and error shape:
//
//   POST /render {"component", "props"?, "timeoutMs"?}
//        -> 200 text/html; charset=utf-8 (or, with Accept: application/json,
//           {"html", "durationMs", "renderMs"})
//   GET  /ready   -> 200 once every worker/isolate is loaded, else 503
//   GET  /health  -> 200 {"status": "ok"}
//
// Errors: {"error": {"status", "code", "message", "details"?}} with the codes
// of the service (bad_request 400, unknown_component 404, not_found 404,
// body_too_large 413, render_error / not_a_string 500, overloaded /
// out_of_memory / not_ready 503 with Retry-After, timeout 504).
//
// Also the command line and the cluster primary of the page servers
// (stream-server.mjs and fetch-server.mjs): runCluster.

import cluster from "node:cluster";
import http from "node:http";
import os from "node:os";

export const DEFAULT_MAX_BODY_BYTES = 1_024_000;
export const DEFAULT_RENDER_TIMEOUT_MS = 5000;
export const MAX_RENDER_TIMEOUT_MS = 30000;
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** A render that produced no HTML, with the service's status and code. */
export class RenderFailure extends Error {
  constructor(status, code, message, details = undefined) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const unknownComponent = (name) =>
  new RenderFailure(404, "unknown_component", `Component "${name}" not registered`);

export const renderThrew = ({ name, message }) =>
  new RenderFailure(500, "render_error", `render threw ${name}: ${message}`, { name, message, stack: null });

export const notAString = (what) =>
  new RenderFailure(500, "not_a_string", `render returned ${what}, expected a string or a Promise of a string`);

export const renderTimeout = (ms) =>
  new RenderFailure(504, "timeout", `render did not finish within ${ms}ms`);

/** `typeof`, with "null" for null (the way failures name a value's type). */
export function typeName(value) {
  return value === null ? "null" : typeof value;
}

/**
 * Parses `--flag value` pairs. `spec` maps flag names (without dashes) to
 * {default, parse?, help}. Unknown flags and --help print usage and exit.
 */
export function parseArgs(argv, spec, usageLine) {
  const usage = (message) => {
    if (message) process.stderr.write(`${message}\n`);
    const lines = [`usage: ${usageLine}`];
    for (const [name, { help, default: def }] of Object.entries(spec)) {
      lines.push(`  --${name.padEnd(20)} ${help}${def === undefined ? "" : ` (default ${def})`}`);
    }
    process.stderr.write(`${lines.join("\n")}\n`);
    process.exit(message ? 64 : 0);
  };
  const args = {};
  for (const [name, { default: def }] of Object.entries(spec)) args[name] = def;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") usage();
    let name = arg.startsWith("--") ? arg.slice(2) : null;
    let value;
    if (name !== null && name.includes("=")) [name, value] = [name.slice(0, name.indexOf("=")), name.slice(name.indexOf("=") + 1)];
    if (name === null || !(name in spec)) usage(`unknown argument ${arg}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) usage(`--${name} needs a value`);
      value = argv[++i];
    }
    const parse = spec[name].parse ?? ((v) => v);
    const parsed = parse(value);
    if (parsed === undefined || Number.isNaN(parsed)) usage(`invalid value for --${name}: ${value}`);
    args[name] = parsed;
  }
  for (const [name, { required }] of Object.entries(spec)) {
    if (required && args[name] === undefined) usage(`--${name} is required`);
  }
  return args;
}

/**
 * The command line of a baseline server: --port, --host and --bundle, then
 * the server's own `flags`, then --max-body-bytes.
 */
export function parseServerArgs(argv, { defaultPort, flags, usageLine }) {
  const spec = {
    port: { default: defaultPort, parse: integer(0), help: "TCP port (0 = any free port)" },
    host: { default: "127.0.0.1", help: "address to listen on" },
    bundle: { required: true, help: "server bundle (classic script calling SsrPool.register)" },
    ...flags,
    "max-body-bytes": { default: DEFAULT_MAX_BODY_BYTES, parse: integer(1), help: "request body limit" },
  };
  return parseArgs(argv, spec, usageLine);
}

/**
 * The command line and the primary of a page server (stream-server.mjs,
 * fetch-server.mjs), `name` being its file name without `.mjs`:
 *
 *   name.mjs --port P [--workers N] [--host ADDR]
 *
 * In the primary, forks the workers, prints `ready <port>` once all of them
 * listen, exits 1 when one exits and, on SIGTERM, stops them and exits 0.
 * In a worker, runs `runWorker({port, host, workers})`, which makes the
 * worker listen on port and host.
 */
export async function runCluster(name, { defaultPort }, runWorker) {
  const args = parseArgs(
    process.argv.slice(2),
    {
      port: { default: defaultPort, parse: integer(0), help: "TCP port (0 = any free port)" },
      host: { default: "127.0.0.1", help: "address to listen on" },
      workers: { default: os.availableParallelism(), parse: integer(1), help: "worker processes" },
    },
    `${name}.mjs --port P [--workers N] [--host ADDR]`,
  );
  if (!cluster.isPrimary) {
    await runWorker(args);
    return;
  }
  for (let i = 0; i < args.workers; i++) cluster.fork();
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    if (++listening === args.workers) process.stdout.write(`ready ${address.port}\n`);
  });
  cluster.on("exit", (worker, code) => {
    process.stderr.write(`${name}: worker ${worker.process.pid} exited with ${code}\n`);
    process.exit(1);
  });
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.kill("SIGTERM");
    process.exit(0);
  });
}

/** Parser for non-negative integer flags. */
export function integer(min = 0) {
  return (value) => {
    const n = Number(value);
    return Number.isInteger(n) && n >= min ? n : undefined;
  };
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res, status, code, message, details) {
  const error = { status, code, message };
  if (details !== undefined) error.details = details;
  sendJson(res, status, { error }, status === 503 ? { "retry-after": "1" } : {});
}

function wantsJson(req) {
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes("application/json") && !accept.includes("text/html");
}

const RENDER_FIELDS = new Set(["component", "props", "timeoutMs"]);

// The request body as {component, propsJson, timeoutMs}, or a string saying
// what is wrong with it.
function parseRenderBody(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return `invalid render request: ${error.message}`;
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return "invalid render request: expected a JSON object";
  }
  for (const key of Object.keys(body)) {
    if (!RENDER_FIELDS.has(key)) return `invalid render request: unknown field \`${key}\``;
  }
  if (typeof body.component !== "string") return "invalid render request: `component` must be a string";
  let timeoutMs = DEFAULT_RENDER_TIMEOUT_MS;
  if (body.timeoutMs !== undefined && body.timeoutMs !== null) {
    if (!Number.isInteger(body.timeoutMs) || body.timeoutMs < 0) {
      return "invalid render request: `timeoutMs` must be a non-negative integer";
    }
    timeoutMs = Math.min(body.timeoutMs, MAX_RENDER_TIMEOUT_MS);
  }
  const propsJson = body.props === undefined || body.props === null ? "{}" : JSON.stringify(body.props);
  return { component: body.component, propsJson, timeoutMs };
}

function respondFailure(res, error) {
  if (error instanceof RenderFailure) {
    sendError(res, error.status, error.code, error.message, error.details);
  } else {
    sendError(res, 500, "render_error", `render failed: ${error?.message ?? String(error)}`);
  }
}

function respondHtml(req, res, html, started) {
  if (wantsJson(req)) {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    sendJson(res, 200, { html, durationMs: ms, renderMs: ms });
    return;
  }
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

// POST /render with the body `text`.
function handleRender(render, req, res, text) {
  const request = parseRenderBody(text);
  if (typeof request === "string") {
    sendError(res, 400, "bad_request", request);
    return;
  }
  const started = process.hrtime.bigint();
  let result;
  try {
    result = render(request.component, request.propsJson, request.timeoutMs);
  } catch (error) {
    respondFailure(res, error);
    return;
  }
  if (typeof result === "string") {
    respondHtml(req, res, result, started);
    return;
  }
  result.then(
    (html) => respondHtml(req, res, html, started),
    (error) => respondFailure(res, error),
  );
}

// Reads the request body as UTF-8 and passes it to `onText`, or answers 413
// once it is larger than `maxBodyBytes` (announced or received).
function readBody(req, res, maxBodyBytes, onText) {
  const tooLargeMessage = `request body is larger than the limit of ${maxBodyBytes} bytes`;
  const announced = Number(req.headers["content-length"]);
  if (announced > maxBodyBytes) {
    sendError(res, 413, "body_too_large", tooLargeMessage);
    req.resume();
    return;
  }
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on("data", (chunk) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > maxBodyBytes) {
      tooLarge = true;
      sendError(res, 413, "body_too_large", tooLargeMessage);
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (tooLarge) return;
    onText(chunks.length === 1 ? chunks[0].toString("utf8") : Buffer.concat(chunks).toString("utf8"));
  });
  req.on("error", () => {});
}

/**
 * Creates (does not start) the HTTP server.
 *
 *   render(component, propsJson, timeoutMs) -> string | Promise<string>;
 *       throws / rejects with a RenderFailure (anything else becomes a 500)
 *   readiness() -> {ready: boolean, ...} (the /ready body)
 */
export function createRenderServer({ render, readiness, maxBodyBytes = DEFAULT_MAX_BODY_BYTES }) {
  const server = http.createServer((req, res) => {
    const path = req.url.split("?", 1)[0];
    if (path === "/render" && req.method === "POST") {
      readBody(req, res, maxBodyBytes, (text) => handleRender(render, req, res, text));
      return;
    }
    // Other routes take no body; drain anything sent anyway.
    req.resume();
    if (path === "/health" && req.method === "GET") {
      sendJson(res, 200, { status: "ok" });
    } else if (path === "/ready" && req.method === "GET") {
      const body = readiness();
      sendJson(res, body.ready ? 200 : 503, body, body.ready ? {} : { "retry-after": "1" });
    } else {
      sendError(res, 404, "not_found", `no route for ${req.method} ${path}`);
    }
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Must exceed keepAliveTimeout, or idle keep-alive sockets are cut early.
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  // No per-request cap: renders are bounded by their own timeouts.
  server.requestTimeout = 0;
  return server;
}

/** Awaits `promise`, rejecting with a 504 RenderFailure after `ms`. */
export function withDeadline(promise, ms) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(renderTimeout(ms)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Reports that the bundle failed to load (`program: bundle PATH failed to load: NAME: MESSAGE`) and exits 2. */
export function exitBundleFailed(program, bundlePath, { name, message }) {
  process.stderr.write(`${program}: bundle ${bundlePath} failed to load: ${name}: ${message}\n`);
  process.exit(2);
}

/** Stops accepting connections, closes idle ones and exits 0 once the server is closed (after 2 s at most). */
export function closeAndExit(server) {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
