// The streaming page (tests/fixtures/src/stream-page.jsx) as Node itself
// runs it, with Node's own streams: the reference streamed renders must
// match. Built next to the fixtures' node_modules, so react and react-dom
// are Node's own production builds.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** Imports stream-page.jsx for Node: `{renderStream, renderHeaders, ...}`. */
export async function loadStreamPage() {
  // esbuild is a dependency of the fixtures package.
  const esbuild = createRequire(path.join(fixtures, "package.json"))("esbuild");
  const outfile = path.join(fixtures, "build", `stream-page.node-${process.pid}.mjs`);
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
  try {
    return await import(pathToFileURL(outfile).href);
  } finally {
    rmSync(outfile, { force: true });
  }
}
