#!/usr/bin/env node
// The streaming page (tests/fixtures/src/stream-page.jsx) rendered by Node
// itself, with Node's own streams: the bytes the service's streamed render
// of the `stream` fixture bundle must match.
//
//   node tests/node/stream-reference.mjs [--props JSON]
//
// Writes the concatenated chunks to stdout, byte-exact.
import { loadStreamPage } from "./stream-page.mjs";

const flag = process.argv.indexOf("--props");
const props = flag > 0 ? JSON.parse(process.argv[flag + 1]) : {};
const page = await loadStreamPage();
const stream = await page.renderStream(props, { component: "Stream", signal: new AbortController().signal });
const reader = stream.getReader();
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  await new Promise((resolve, reject) => process.stdout.write(value, (e) => (e ? reject(e) : resolve())));
}
