#!/usr/bin/env node
// Node's own source-mapped stack (--enable-source-maps) for a render of a
// source-mapped fixture bundle that throws: the reference for the
// service's mapped stacks.
//
//   node --enable-source-maps tests/node/mapped-stack.mjs BUNDLE COMPONENT PROPS_JSON
//
// Loads BUNDLE with require (a classic script) or import (an `.mjs` module),
// so Node finds its map as it would for any script or module, and prints
// the stack of what the render threw.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [bundle, component, props] = process.argv.slice(2);
const renders = new Map();
globalThis.SsrPool = { register: (name, render) => renders.set(name, render) };
if (bundle.endsWith(".mjs")) {
  await import(pathToFileURL(path.resolve(bundle)).href);
} else {
  createRequire(import.meta.url)(path.resolve(bundle));
}
try {
  renders.get(component)(JSON.parse(props), { component });
  process.exitCode = 1;
} catch (error) {
  process.stdout.write(error.stack);
}
