#!/usr/bin/env node
// A small closed-loop HTTP load client: C connections, each sending the next
// POST as soon as the previous answer arrived, for a fixed time.
//
//   node loadtest/node/bench-client.mjs --port P [--component Table] [--props '{}']
//        [--connections 4] [--seconds 5] [--warmup 1]
//
// Prints one JSON line: {"requests", "ok", "errors", "seconds", "rps",
// "meanMs", "p50Ms", "p99Ms"} (after `warmup` seconds that are not counted).
// Only loopback targets are accepted.

import http from "node:http";
import { integer, parseArgs } from "./http-common.mjs";

const args = parseArgs(
  process.argv.slice(2),
  {
    host: { default: "127.0.0.1", help: "server address (loopback only)" },
    port: { required: true, parse: integer(1), help: "server port" },
    path: { default: "/render", help: "request path" },
    component: { default: "Table", help: "component to render" },
    props: { default: "{}", help: "props as JSON" },
    connections: { default: 4, parse: integer(1), help: "concurrent keep-alive connections" },
    seconds: { default: 5, parse: Number, help: "measured duration" },
    warmup: { default: 1, parse: Number, help: "unmeasured seconds first" },
  },
  "bench-client.mjs --port P [--component NAME] [--props JSON] [--connections C] [--seconds S]",
);

if (!/^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(args.host)) {
  process.stderr.write("bench-client: only loopback hosts are allowed\n");
  process.exit(64);
}

const body = Buffer.from(JSON.stringify({ component: args.component, props: JSON.parse(args.props) }));
const agent = new http.Agent({ keepAlive: true, maxSockets: args.connections });

function once() {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: args.host,
        port: args.port,
        path: args.path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve(res.statusCode === 200));
      },
    );
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

const start = performance.now();
const measureFrom = start + args.warmup * 1000;
const end = measureFrom + args.seconds * 1000;
const latencies = [];
let ok = 0;
let errors = 0;

async function loop() {
  for (;;) {
    const t0 = performance.now();
    if (t0 >= end) return;
    const good = await once();
    const t1 = performance.now();
    if (t0 >= measureFrom && t1 <= end) {
      latencies.push(t1 - t0);
      if (good) ok++;
      else errors++;
    }
  }
}

await Promise.all(Array.from({ length: args.connections }, loop));
agent.destroy();
latencies.sort((a, b) => a - b);
const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
const round = (x) => Math.round(x * 1000) / 1000;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    ok,
    errors,
    seconds: args.seconds,
    rps: round(ok / args.seconds),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)),
    p50Ms: round(pick(0.5)),
    p99Ms: round(pick(0.99)),
  })}\n`,
);
