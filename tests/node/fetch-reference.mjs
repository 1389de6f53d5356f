#!/usr/bin/env node
// The page that fetches its data (tests/fixtures/src/fetch-page.jsx)
// rendered by Node itself, with Node's own fetch and streams: the bytes the
// service's render of the same component of the `fetch` fixture bundle must
// match, given the same upstream (tests/node/upstream.mjs).
//
//   node tests/node/fetch-reference.mjs --component FetchPage --props '{"api": "http://127.0.0.1:PORT"}'
//        [--trace-id ID]
//
// --component is FetchPage (the default), FetchPageString or PropsPage;
// --trace-id gives the render `context.headers = {"x-trace-id": ID}`, as
// the service does for a request that sends the header. Writes the page to
// stdout, byte-exact.
import { parseArgs } from "node:util";

import { loadFixtureModule } from "./fixture-module.mjs";

const { values: args } = parseArgs({
  options: {
    component: { type: "string", default: "FetchPage" },
    props: { type: "string", default: "{}" },
    "trace-id": { type: "string" },
  },
});

const { renders } = await loadFixtureModule("fetch-page.jsx");
const render = renders[args.component];
if (render === undefined) {
  process.stderr.write(`fetch-reference: unknown component ${args.component} (one of ${Object.keys(renders).join(", ")})\n`);
  process.exit(64);
}
const headers = args["trace-id"] === undefined ? {} : { "x-trace-id": args["trace-id"] };
const context = { component: args.component, signal: new AbortController().signal, headers };
const result = await render(JSON.parse(args.props), context);

const write = (bytes) => new Promise((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
if (typeof result === "string") {
  await write(result);
} else {
  for await (const chunk of result) await write(chunk);
}
