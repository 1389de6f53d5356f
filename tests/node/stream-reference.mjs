#!/usr/bin/env node
// The streaming page (tests/fixtures/src/stream-page.jsx) rendered by Node
// itself, with Node's own streams: the bytes the service's streamed render
// of the `stream` fixture bundle must match.
//
//   node tests/node/stream-reference.mjs [--props JSON]
//
// Writes the concatenated chunks to stdout, byte-exact.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");
// esbuild is a dependency of the fixtures package.
const esbuild = createRequire(path.join(fixtures, "package.json"))("esbuild");
const flag = process.argv.indexOf("--props");
const props = flag > 0 ? JSON.parse(process.argv[flag + 1]) : {};

// Built next to the fixtures' node_modules, so react and react-dom are Node's
// own production builds.
const outfile = path.join(fixtures, "build", `stream-page.reference-${process.pid}.mjs`);
await esbuild.build({
  entryPoints: [path.join(fixtures, "src", "stream-page.jsx")],
  outfile,
  absWorkingDir: fixtures,
  bundle: true,
  packages: "external",
  format: "esm",
  platform: "node",
  target: "es2022",
  jsx: "automatic",
  logLevel: "warning",
});
process.env.NODE_ENV = "production";
let page;
try {
  page = await import(pathToFileURL(outfile).href);
} finally {
  rmSync(outfile, { force: true });
}
const stream = await page.renderStream(props, { component: "Stream", signal: new AbortController().signal });
const reader = stream.getReader();
for (;;) {
  const { done, value } = await reader.read();
  if (done) break;
  await new Promise((resolve, reject) => process.stdout.write(value, (e) => (e ? reject(e) : resolve())));
}
