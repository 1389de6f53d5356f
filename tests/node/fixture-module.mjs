// A page module of the fixtures (tests/fixtures/src/*.jsx) as Node itself
// runs it: bundled next to the fixtures' node_modules with its packages left
// as imports, so react and react-dom are Node's own production builds and
// the page's elements and Node's renderers share one React.
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures");

/** Imports tests/fixtures/src/`entry` (e.g. "stream-page.jsx") for Node. */
export async function loadFixtureModule(entry) {
  // esbuild is a dependency of the fixtures package.
  const esbuild = createRequire(path.join(fixtures, "package.json"))("esbuild");
  const outfile = path.join(fixtures, "build", `${path.parse(entry).name}.node-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(fixtures, "src", entry)],
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
