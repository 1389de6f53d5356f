// Runs the same script in a bare context that has only what the service
// exposes plus pool/src/web.js, installed with a host made of Node's URL and
// fetch (tests/node/runtime.mjs with `web: true`), and in Node itself, whose
// Web APIs are the reference. A script is the body of an async function
// that returns a JSON-serializable value; it gets a `record(label, fn)`
// helper that runs fn and records its result, or the name of what it threw.
import assert from "node:assert/strict";
import vm from "node:vm";
import { loadBundle } from "../../../tests/node/runtime.mjs";

const RECORD = `
  const results = [];
  const describe = (value) => {
    if (value === undefined) return "undefined";
    if (value !== null && typeof value === "object" && typeof value.name === "string" && typeof value.message === "string") {
      return { error: value.name, message: value.message, code: value.code };
    }
    return value;
  };
  const record = async (label, fn) => {
    try {
      results.push([label, describe(await fn())]);
    } catch (error) {
      results.push([label, { threw: error !== null && typeof error === "object" ? Object.prototype.toString.call(error) + " " + error.name : String(error) }]);
    }
  };
`;

function wrap(body) {
  return `(async () => { ${RECORD} ${body}\n; return JSON.stringify(results); })()`;
}

/**
 * A fresh bare context with web.js; `messages` collects its console output.
 * `web` is loadBundle's option: true, or host functions to use instead of
 * Node's.
 */
export function webContext(web = true) {
  const messages = [];
  const sink = (level) => (...args) => messages.push([level, args.map(String).join(" ")]);
  const console = { log: sink("log"), info: sink("info"), warn: sink("warn"), error: sink("error"), debug: sink("debug") };
  const loaded = loadBundle("", { filename: "empty.js", web, console });
  return { loaded, context: loaded.context, messages };
}

export async function inWeb(body, web = true) {
  const { loaded, context } = webContext(web);
  try {
    return JSON.parse(await vm.runInContext(wrap(body), context, { filename: "script.js" }));
  } finally {
    loaded.dispose();
  }
}

export async function inNode(body) {
  return JSON.parse(await vm.runInThisContext(wrap(body), { filename: "script.js" }));
}

/** Runs `body` in both and asserts the same results; returns them. */
export async function same(body) {
  const [web, node] = [await inWeb(body), await inNode(body)];
  assert.deepEqual(web, node);
  return web;
}
