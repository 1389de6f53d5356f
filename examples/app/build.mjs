// Builds the server bundle dist/server.js from src/server.jsx.
//
//   cd examples/app && npm ci && node build.mjs
//
// Output format (what the SSR service loads): a classic script (IIFE) for
// platform "browser", production React (process.env.NODE_ENV =
// "production"), not minified, ASCII-only (non-ASCII text is \u-escaped),
// with third-party license comments collected at the end of the file.
//
// `react-dom/server` is aliased to `react-dom/server.edge`: the plain browser
// entry also evaluates the streaming renderer, which calls
// `new MessageChannel()` at load time, and the service provides no
// MessageChannel. `renderToString` itself is the same code in both entries.

import * as esbuild from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

const result = await esbuild.build({
  entryPoints: [path.join(here, "src/server.jsx")],
  outfile: path.join(here, "dist/server.js"),
  absWorkingDir: here,
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  alias: { "react-dom/server": "react-dom/server.edge" },
  minify: false,
  sourcemap: false,
  legalComments: "eof",
  metafile: true,
  logLevel: "warning",
});

const [out] = Object.entries(result.metafile.outputs);
console.log(`wrote ${path.relative(process.cwd(), path.resolve(here, out[0])) || out[0]} (${out[1].bytes} bytes)`);
