// Streaming renders in a bare context: the `stream` fixture bundle
// (tests/fixtures/src/stream.jsx, react-dom/server.edge's
// renderToReadableStream) runs in a context that has only the service's
// globals and pool/src/web.js, and must produce the same bytes as the same
// page rendered by Node itself with its own streams, AbortController and
// Headers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import * as esbuild from "esbuild";
import { buildOptions } from "../../../tests/fixtures/build.mjs";
import { loadBundle } from "../../../tests/node/runtime.mjs";
import { loadStreamPage } from "../../../tests/node/stream-page.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, "../../../tests/fixtures");

let bundle; // the fixture bundle's source
let reference; // stream-page.jsx as Node runs it: { renderStream, renderHeaders }
const contexts = [];

before(async () => {
  const built = await esbuild.build({ ...buildOptions("stream"), write: false });
  bundle = built.outputFiles[0].text;
  reference = await loadStreamPage();
});

after(() => {
  for (const loaded of contexts) loaded.dispose();
});

/**
 * The stream bundle in a fresh bare context with web.js; `errors` collects
 * console.error lines. `prepare(global)` runs after web.js, before the bundle.
 */
function loadStream(prepare = undefined) {
  const errors = [];
  const sink = (level) => (...args) => {
    if (level === "error") errors.push(args.map(String).join(" "));
  };
  const console = { log: sink("log"), info: sink("info"), warn: sink("warn"), error: sink("error"), debug: sink("debug") };
  const loaded = loadBundle(bundle, { filename: "stream.js", web: true, console, prepare });
  contexts.push(loaded);
  // As the service will call a render: props parsed in the bundle's realm
  // and a signal of that realm's AbortController in the context.
  const start = vm.runInContext(
    `(render, json, component) => {
      const controller = new AbortController();
      return { controller, result: render(JSON.parse(json), { component, signal: controller.signal }) };
    }`,
    loaded.context,
  );
  return {
    loaded,
    errors,
    start: (name, props) => start(loaded.components.get(name), JSON.stringify(props), name),
  };
}

const NODE_RENDERS = { Stream: () => reference.renderStream, StreamHeaders: () => reference.renderHeaders };

function startInNode(name, props) {
  const controller = new AbortController();
  return { controller, result: NODE_RENDERS[name]()(structuredClone(props), { component: name, signal: controller.signal }) };
}

/** Node's console.error lines while `fn` runs. */
async function nodeErrors(fn) {
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args.map(String).join(" "));
  try {
    return { value: await fn(), errors };
  } finally {
    console.error = original;
  }
}

/**
 * Reads a stream to its end; every chunk must be a Uint8Array. With
 * `abortWhen`, aborts `controller` once the bytes read so far contain that
 * text.
 */
async function readAll(stream, { abortWhen, controller } = {}) {
  const reader = stream.getReader();
  const chunks = [];
  let aborted = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    assert.equal(Object.prototype.toString.call(value), "[object Uint8Array]");
    chunks.push(Buffer.from(new Uint8Array(value)));
    if (abortWhen !== undefined && !aborted && Buffer.concat(chunks).includes(abortWhen)) {
      aborted = true;
      controller.abort();
    }
  }
  return { bytes: Buffer.concat(chunks), chunks: chunks.length, aborted };
}

async function renderBoth(name, props, options = {}) {
  const web = loadStream();
  const w = web.start(name, props);
  const webOut = await readAll(await w.result, { ...options, controller: w.controller });
  const { value: nodeOut, errors } = await nodeErrors(async () => {
    const n = startInNode(name, props);
    return readAll(await n.result, { ...options, controller: n.controller });
  });
  return { web: webOut, node: nodeOut, webErrors: web.errors, nodeErrors: errors };
}

const utf8 = (bytes) => new TextDecoder("utf-8", { fatal: true }).decode(bytes);

test("nested Suspense boundaries stream the same bytes as Node", async () => {
  const { web, node, webErrors, nodeErrors } = await renderBoth("Stream", {});
  assert.ok(web.bytes.equals(node.bytes), `web.js (${web.bytes.length} bytes) and Node (${node.bytes.length} bytes) differ`);
  const html = utf8(web.bytes);
  assert.ok(html.startsWith("<!DOCTYPE html><html"));
  assert.ok(html.includes("<title>Streaming café 日本語 🍵</title>"));
  // The shell went out with the fallbacks; each boundary's content followed.
  assert.ok(web.chunks > 1 && node.chunks > 1, `chunks: web.js ${web.chunks}, Node ${node.chunks}`);
  for (const id of ["featured", "reviews", "replies", "related", "catalog", "footer-links"]) {
    assert.ok(html.includes(`<p class="loading">Loading <!-- -->${id}<!-- -->…</p>`), `fallback of ${id}`);
    assert.ok(html.includes(`<section id="${id}" data-rows=`), `content of ${id}`);
  }
  assert.ok(html.includes("$RC("), "boundaries completed by React's inline script");
  assert.deepEqual(webErrors, []);
  assert.deepEqual(nodeErrors, []);
});

test("many renders in flight in one context each stream the same bytes as Node", async () => {
  const variants = [
    {},
    { title: "Second", sections: [{ id: "one", delay: 15, rows: 50, children: [{ id: "two", delay: 3, rows: 5 }] }] },
    { title: "Third ✓", sections: [{ id: "a", delay: 1, rows: 1 }, { id: "b", delay: 25, rows: 1000 }] },
    { title: "Fourth", shellDelay: 10, sections: [{ id: "after-shell", delay: 5, rows: 20 }] },
  ];
  const web = loadStream();
  const webOut = await Promise.all(
    variants.map(async (props) => {
      const r = web.start("Stream", props);
      return readAll(await r.result);
    }),
  );
  const nodeOut = await Promise.all(
    variants.map(async (props) => {
      const r = startInNode("Stream", props);
      return readAll(await r.result);
    }),
  );
  variants.forEach((props, i) => {
    assert.ok(webOut[i].bytes.equals(nodeOut[i].bytes), `render ${i} (${JSON.stringify(props).slice(0, 60)}) differs from Node`);
  });
  assert.deepEqual(web.errors, []);
});

test("aborting the render's signal mid-stream gives the client-render fallback, as in Node", async () => {
  const props = {
    sections: [
      { id: "quick", delay: 5, rows: 3, children: [{ id: "stalled", delay: 800, rows: 2 }] },
      { id: "late", delay: 800, rows: 2 },
    ],
  };
  const { web, node, webErrors, nodeErrors } = await renderBoth("Stream", props, { abortWhen: 'id="quick"' });
  assert.ok(web.aborted && node.aborted);
  assert.ok(web.bytes.equals(node.bytes), `web.js and Node differ:\n${utf8(web.bytes)}\n---\n${utf8(node.bytes)}`);
  const html = utf8(web.bytes);
  assert.ok(html.includes('<section id="quick"'), "what arrived before the abort");
  assert.ok(!html.includes('<section id="late"') && !html.includes('<section id="stalled"'), "nothing after it");
  assert.ok(html.includes("$RX("), "the aborted boundaries are left to the client");
  assert.ok(html.endsWith("</body></html>"));
  // React reports the abort reason (an AbortError DOMException) through onError.
  assert.ok(webErrors.length > 0);
  assert.deepEqual(webErrors, nodeErrors);
  assert.ok(webErrors.every((line) => line === "AbortError: This operation was aborted"), JSON.stringify(webErrors));
});

test("aborting before the shell is ready rejects the render with the signal's reason, as in Node", async () => {
  const props = { shellDelay: 800 };
  const outcome = async (started) => {
    setTimeout(() => started.controller.abort(), 10);
    try {
      await started.result;
      return "resolved";
    } catch (error) {
      return `${error.name}: ${error.message}`;
    }
  };
  const web = loadStream();
  const webOutcome = await outcome(web.start("Stream", props));
  const { value: nodeOutcome } = await nodeErrors(() => outcome(startInNode("Stream", props)));
  assert.equal(webOutcome, "AbortError: This operation was aborted");
  assert.equal(webOutcome, nodeOutcome);
});

test("onHeaders receives a Headers of the preloads, as in Node", async () => {
  const web = loadStream();
  const webHeaders = JSON.parse(await web.loaded.render("StreamHeaders", {}));
  const { value, errors } = await nodeErrors(() => reference.renderHeaders({}, { component: "StreamHeaders" }));
  const nodeHeaders = JSON.parse(value);
  assert.deepEqual(webHeaders, nodeHeaders);
  // Cancelling the stream aborts the rest of the render with the cancel reason.
  assert.deepEqual(web.errors, errors);
  assert.equal(webHeaders.length, 1);
  assert.equal(webHeaders[0][0], "link");
  assert.match(webHeaders[0][1], /<\/fonts\/inter\.woff2>; rel=preload; as="font"/);
});

test("byte chunks transferred on enqueue, as the service's V8 does, stream the same bytes", async () => {
  // V8 from 11.4 (the service's 15.2, not Node 20's 11.3) has
  // ArrayBuffer.prototype.transfer, which byte streams use to take each
  // enqueued chunk's buffer, detaching React's view of it.
  let transfers = 0;
  const web = loadStream((global) => {
    Object.defineProperty(global.ArrayBuffer.prototype, "transfer", {
      value() {
        transfers++;
        return structuredClone(this, { transfer: [this] });
      },
      writable: true,
      configurable: true,
    });
  });
  const w = web.start("Stream", {});
  const webOut = await readAll(await w.result);
  const n = startInNode("Stream", {});
  const nodeOut = await readAll(await n.result);
  assert.ok(transfers > 0);
  assert.ok(webOut.bytes.equals(nodeOut.bytes));
  assert.deepEqual(web.errors, []);
});
