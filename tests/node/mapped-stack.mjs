#!/usr/bin/env node
// Node's own source-mapped stack (--enable-source-maps) for a render of a
// source-mapped fixture bundle that throws: the reference for the
// service's mapped stacks.
//
//   node --enable-source-maps tests/node/mapped-stack.mjs BUNDLE COMPONENT PROPS_JSON
//
// Loads BUNDLE (a classic script) with require, so Node finds its map as
// it would for any script, and prints the stack of what the render threw.
import { createRequire } from "node:module";
import path from "node:path";

const [bundle, component, props] = process.argv.slice(2);
const renders = new Map();
globalThis.SsrPool = { register: (name, render) => renders.set(name, render) };
createRequire(import.meta.url)(path.resolve(bundle));
try {
  renders.get(component)(JSON.parse(props), { component });
  process.exitCode = 1;
} catch (error) {
  process.stdout.write(error.stack);
}
