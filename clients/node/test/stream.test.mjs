// renderStream and the middleware streaming a render through, against the
// real service and the streaming fixture (nested Suspense boundaries).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import express from "express";
import { JSDOM } from "jsdom";

import { createClient, SsrHttpError, SsrNetworkError, ssrMiddleware } from "../index.mjs";
import { listen } from "./helpers/http.mjs";
import { combinedBundle, errorLog, startCountingProxy, startServer } from "./helpers/server.mjs";

// One boundary whose data comes after `delay` ms.
const slow = (delay) => ({ sections: [{ id: "slow", delay, rows: 2 }] });

let server;

before(async () => {
  server = await startServer({ bundle: combinedBundle("basic", "stream", "hostile-stream") });
});

after(async () => {
  await server?.stop();
});

// Reads a stream, noting when the first and the last chunk came.
async function timedRead(stream, started) {
  const chunks = [];
  let first;
  for await (const chunk of stream) {
    first ??= Date.now() - started;
    chunks.push(Buffer.from(chunk));
  }
  return { text: Buffer.concat(chunks).toString("utf8"), first, last: Date.now() - started };
}

describe("renderStream", () => {
  test("chunks arrive before the slow boundary; the whole equals render's answer", async () => {
    const client = createClient({ url: server.url });
    const started = Date.now();
    const result = await client.renderStream("Stream", slow(500));
    assert.equal(result.status, 200);
    assert.equal(result.fallback, false);
    assert.equal(result.headers.get("content-type"), "text/html; charset=utf-8");
    const { text, first, last } = await timedRead(result.stream, started);
    assert.ok(first <= last - 300, `first chunk after ${first} ms, last after ${last} ms`);
    assert.equal(text, await client.render("Stream", slow(500), { id: result.id }));
    assert.match(text, /<section id="slow" data-rows="2">/);
    assert.equal(
      await new Response((await client.renderStream("Stream", slow(50), { wrap: false })).stream).text(),
      await client.render("Stream", slow(50), { wrap: false }),
    );
  });

  test("a component that does not stream comes as one whole body", async () => {
    const client = createClient({ url: server.url });
    const result = await client.renderStream("Hello", { name: "Ada" }, { id: "one" });
    assert.equal(await new Response(result.stream).text(), await client.render("Hello", { name: "Ada" }, { id: "one" }));
  });

  test("errors before the first byte fall back, or reject with fallback off", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError });
    const result = await client.renderStream("Missing", { a: 1 });
    assert.equal(result.fallback, true);
    assert.equal(result.status, undefined);
    assert.ok(result.error instanceof SsrHttpError);
    assert.equal(result.error.code, "unknown_component");
    assert.match(await new Response(result.stream).text(), /^<div data-ssr-component="Missing" data-ssr-id="[^"]+" data-ssr-fallback="unknown_component"><\/div><script/);
    assert.equal(log.calls.length, 1);
    await assert.rejects(client.renderStream("Missing", {}, { fallback: false }), (error) => error.status === 404);
  });

  test("a failure after the first byte errors the stream and is reported", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError });
    const result = await client.renderStream("ErrorsAfterShell", {}, { wrap: false });
    const reader = result.stream.getReader();
    assert.equal(Buffer.from((await reader.read()).value).toString(), "<p>shell</p>");
    await assert.rejects(reader.read(), SsrNetworkError);
    assert.equal(log.calls.length, 1);
    assert.equal(log.calls[0].info.fallback, false);
  });

  test("aborting the signal cancels the request", async () => {
    const proxy = await startCountingProxy(server.port);
    try {
      const client = createClient({ url: proxy.url });
      const controller = new AbortController();
      const result = await client.renderStream("Stream", slow(3000), { signal: controller.signal, timeoutMs: 5000 });
      const reader = result.stream.getReader();
      await reader.read();
      controller.abort(new Error("enough"));
      // What was read before the abort may still be queued; then the reason.
      await assert.rejects(async () => {
        while (!(await reader.read()).done);
      }, /enough/);
      await waitFor(() => proxy.open === 0, 1000, "the request to the service was closed");
      assert.equal(client.stats().errors, 0);
    } finally {
      await proxy.close();
    }
  });
});

describe("ssrMiddleware streaming", () => {
  test("streams the render through, inside the page and the hydration markup", async () => {
    const client = createClient({ url: server.url });
    const app = express();
    app.use(ssrMiddleware(client, { title: "streamed" }));
    app.get("/", (req, res) => res.renderSSR("Stream", slow(500), { id: "page" }));
    app.get("/document", (req, res) => res.renderSSR("Stream", slow(500), { document: true, id: "doc" }));
    const site = await listen(app);
    try {
      let started = Date.now();
      let response = await fetch(site.url);
      assert.equal(response.status, 200);
      let { text, first, last } = await timedRead(response.body, started);
      assert.ok(first <= last - 300, `first chunk after ${first} ms, last after ${last} ms`);
      const markup = await client.render("Stream", slow(500), { id: "page" });
      assert.ok(text.includes(`<body>${markup}</body></html>`));
      assert.match(text, /^<!DOCTYPE html><html lang="en">.*<title>streamed<\/title>/);

      started = Date.now();
      response = await fetch(`${site.url}/document`);
      ({ text, first, last } = await timedRead(response.body, started));
      assert.ok(first <= last - 300, `first chunk after ${first} ms, last after ${last} ms`);
      assert.equal(text, await client.render("Stream", slow(500), { wrap: false }));
      const { document } = new JSDOM(text).window;
      assert.equal(document.querySelectorAll("html").length, 1);
      assert.ok(document.querySelector("section#slow"));
    } finally {
      await site.close();
    }
  });

  test("errors before the first byte use the fallback placeholder", async () => {
    const app = express();
    app.use(ssrMiddleware({ url: server.url }));
    app.get("/", (req, res) => res.renderSSR("Missing", { n: 1 }, { title: "fb" }));
    app.get("/document", (req, res) => res.renderSSR("Missing", { n: 2 }, { title: "fb", document: true }));
    const site = await listen(app);
    try {
      for (const path of ["/", "/document"]) {
        const response = await fetch(site.url + path);
        assert.equal(response.status, 200);
        const { document } = new JSDOM(await response.text()).window;
        assert.equal(document.title, "fb");
        assert.equal(document.querySelector("[data-ssr-component]").getAttribute("data-ssr-fallback"), "unknown_component");
      }
    } finally {
      await site.close();
    }
  });

  test("a failure after the first byte leaves the browser an incomplete response", async () => {
    const app = express();
    let settled;
    app.use(ssrMiddleware({ url: server.url }));
    app.get("/", (req, res) => {
      settled = res.renderSSR("ErrorsAfterShell", {}, { title: "broken" });
    });
    const site = await listen(app);
    try {
      const response = await fetch(site.url);
      assert.equal(response.status, 200);
      const reader = response.body.getReader();
      let text = "";
      await assert.rejects(async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          text += Buffer.from(value).toString();
        }
      });
      assert.ok(text.includes("<p>shell</p>"), text);
      assert.ok(!text.includes("</html>"));
      await settled; // fallback on: reported, not thrown
    } finally {
      await site.close();
    }
  });

  test("a browser that disconnects aborts the request to the service", async () => {
    const proxy = await startCountingProxy(server.port);
    const client = createClient({ url: proxy.url });
    const app = express();
    let settled;
    app.use(ssrMiddleware(client));
    app.get("/", (req, res) => {
      settled = res.renderSSR("Stream", slow(3000), { timeoutMs: 5000 });
    });
    const site = await listen(app);
    try {
      const controller = new AbortController();
      const response = await fetch(site.url, { signal: controller.signal });
      const reader = response.body.getReader();
      let seen = "";
      while (!seen.includes("data-ssr-component")) seen += Buffer.from((await reader.read()).value).toString();
      const started = Date.now();
      controller.abort();
      await settled;
      await waitFor(() => proxy.open === 0, 1000, "the request to the service was closed");
      assert.ok(Date.now() - started < 1000);
      assert.equal(client.stats().errors, 0, "a browser going away is no service failure");
    } finally {
      await site.close();
      await proxy.close();
    }
  });
});

async function waitFor(check, ms, what) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
