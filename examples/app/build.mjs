// Builds the server bundle dist/server.js from src/server.js and the browser
// bundle dist/client.js from src/client.js.
//
//   cd examples/app && npm ci && node build.mjs
//
// Server bundle format (what the SSR service loads): a classic script (IIFE)
// for platform "browser", production React (process.env.NODE_ENV =
// "production"), not minified, ASCII-only (non-ASCII text is \u-escaped),
// with third-party license comments collected at the end of the file.
//
// `react-dom/server` is aliased to `react-dom/server.edge`, the server
// renderer React builds for Web-streams runtimes such as the service. (The
// plain browser entry loads too: it calls `new MessageChannel()` at load
// time, which the service provides.) `renderToString` is the same code in
// both entries, and both have `renderToReadableStream` for streamed pages.
//
// The browser bundle is the same IIFE format, minified, and hydrates the
// placeholders that @ssr-pool/client writes around the server HTML.
//
// @ssr-pool/react is a `file:` dependency (a symlink to clients/react).
// `preserveSymlinks` resolves its imports of react and react-dom from this
// app's node_modules, so the bundles contain exactly one copy of React
// (checked below).

import * as esbuild from "esbuild";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

const common = {
  absWorkingDir: here,
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  preserveSymlinks: true,
  sourcemap: false,
  legalComments: "eof",
  metafile: true,
  write: false,
  logLevel: "warning",
};

const builds = [
  {
    ...common,
    entryPoints: [path.join(here, "src/server.js")],
    outfile: path.join(here, "dist/server.js"),
    alias: { "react-dom/server": "react-dom/server.edge" },
    minify: false,
  },
  {
    ...common,
    entryPoints: [path.join(here, "src/client.js")],
    outfile: path.join(here, "dist/client.js"),
    minify: true,
  },
];

for (const options of builds) {
  const result = await esbuild.build(options);
  const [out] = Object.entries(result.metafile.outputs);
  // One React only: two copies would break hooks at render time.
  const reactCopies = new Set(
    Object.keys(result.metafile.inputs)
      .map((input) => input.match(/^(.*node_modules\/react)\//)?.[1])
      .filter(Boolean),
  );
  if (reactCopies.size > 1) {
    throw new Error(`${out[0]} would bundle React more than once: ${[...reactCopies].join(", ")}`);
  }
  for (const file of result.outputFiles) {
    await mkdir(path.dirname(file.path), { recursive: true });
    await writeFile(file.path, file.contents);
  }
  console.log(`wrote ${path.relative(process.cwd(), path.resolve(here, out[0])) || out[0]} (${out[1].bytes} bytes)`);
}
