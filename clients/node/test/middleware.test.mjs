// The Express middleware answering real HTTP requests.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import express from "express";
import { JSDOM } from "jsdom";

import { createClient, renderPage, SsrHttpError, ssrMiddleware } from "../index.mjs";
import { listen } from "./helpers/http.mjs";
import { combinedBundle, errorLog, freePort, startServer } from "./helpers/server.mjs";

let server;

before(async () => {
  server = await startServer({ bundle: combinedBundle("basic", "timer-loop") });
});

after(async () => {
  await server?.stop();
});

// Reads a response body, noting when the first and the last chunk came.
async function timedBody(response, started) {
  const chunks = [];
  let first;
  for await (const chunk of response.body) {
    first ??= Date.now() - started;
    chunks.push(Buffer.from(chunk));
  }
  return { text: Buffer.concat(chunks).toString("utf8"), first, last: Date.now() - started };
}

describe("ssrMiddleware (Express)", () => {
  test("res.renderSSR streams a full page with the hydration markup", async () => {
    const app = express();
    app.use(ssrMiddleware({ url: server.url }, { scripts: ["/static/client.js"] }));
    app.get("/hello/:name", (req, res) => res.renderSSR("Hello", { name: req.params.name }, { title: "Hi <there> & co" }));
    const site = await listen(app);
    try {
      const response = await fetch(`${site.url}/hello/Express`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
      const html = await response.text();
      assert.match(html, /^<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">/);
      assert.ok(html.includes("<title>Hi &lt;there&gt; &amp; co</title>"));
      assert.ok(html.includes('<script src="/static/client.js" defer></script></head>'));
      assert.ok(html.endsWith("</body></html>"));

      const { document } = new JSDOM(html).window;
      assert.equal(document.title, "Hi <there> & co");
      const root = document.querySelector('[data-ssr-component="Hello"]');
      assert.ok(root);
      assert.equal(root.hasAttribute("data-ssr-fallback"), false);
      assert.equal(root.innerHTML, '<div class="hello"><h1>Hello, <!-- -->Express<!-- -->!</h1></div>');
      const script = document.querySelector(`script[data-ssr-props-for="${root.getAttribute("data-ssr-id")}"]`);
      assert.deepEqual(JSON.parse(script.textContent), { name: "Express" });
    } finally {
      await site.close();
    }
  });

  test("the head is sent before the render finishes", async () => {
    const app = express();
    app.use(ssrMiddleware(createClient({ url: server.url })));
    app.get("/slow", (req, res) => res.renderSSR("TimerLoop", {}, { title: "slow", timeoutMs: 600 }));
    const site = await listen(app);
    try {
      const started = Date.now();
      const response = await fetch(`${site.url}/slow`);
      assert.equal(response.status, 200);
      const { text, first, last } = await timedBody(response, started);
      assert.ok(last >= 450, `page finished after ${last} ms`);
      assert.ok(first < last - 200, `first chunk after ${first} ms, last after ${last} ms`);
      // The render ran into its deadline: a client-render placeholder.
      assert.match(text, /<title>slow<\/title>/);
      assert.match(text, /data-ssr-component="TimerLoop" data-ssr-id="[^"]+" data-ssr-fallback="timeout"><\/div>/);
    } finally {
      await site.close();
    }
  });

  test("with the service down the page still renders, with a placeholder", async () => {
    const log = errorLog();
    const app = express();
    app.use(ssrMiddleware({ url: `http://127.0.0.1:${await freePort()}`, retries: 1, onError: log.onError }));
    app.get("/", (req, res) => res.renderSSR("Hello", { name: "offline" }, { title: "Offline" }));
    const site = await listen(app);
    try {
      const response = await fetch(site.url);
      assert.equal(response.status, 200);
      const html = await response.text();
      const { document } = new JSDOM(html).window;
      const root = document.querySelector("[data-ssr-component]");
      assert.equal(root.getAttribute("data-ssr-fallback"), "network_error");
      assert.deepEqual(JSON.parse(root.nextElementSibling.textContent), { name: "offline" });
      assert.equal(log.calls.length, 1);
    } finally {
      await site.close();
    }
  });

  test("with fallback off, errors reach the Express error handler before anything is sent", async () => {
    const app = express();
    app.use(ssrMiddleware({ url: server.url, fallback: false }));
    app.get("/", (req, res) => res.renderSSR("Missing", {}, { title: "x" }));
    app.use((error, req, res, next) => {
      res.status(error instanceof SsrHttpError ? 502 : 500).json({ code: error.code, status: error.status });
    });
    const site = await listen(app);
    try {
      const response = await fetch(site.url);
      assert.equal(response.status, 502);
      assert.deepEqual(await response.json(), { code: "unknown_component", status: 404 });
    } finally {
      await site.close();
    }
  });

  test("templates: string with markers, function, custom status", async () => {
    const app = express();
    app.use(
      ssrMiddleware(
        { url: server.url },
        {
          template:
            '<!doctype html><html><head><title><!--ssr-title--></title><!--ssr-head--></head><body><main id="app"><!--ssr-outlet--></main><!--ssr-scripts--></body></html>',
          head: '<link rel="stylesheet" href="/app.css">',
          scripts: [{ src: "/app.mjs", type: "module" }],
        },
      ),
    );
    app.get("/string", (req, res) => res.renderSSR("Hello", { name: "s" }, { title: "String" }));
    app.get("/function", (req, res) =>
      res.renderSSR(
        "Hello",
        { name: "f" },
        {
          status: 404,
          title: "<Function>",
          template: ({ title, body }) => `<html><title>${title}</title><body><section>${body}</section></body></html>`,
        },
      ),
    );
    const site = await listen(app);
    try {
      const a = await fetch(`${site.url}/string`);
      const aHtml = await a.text();
      assert.match(
        aHtml,
        /^<!doctype html><html><head><title>String<\/title><link rel="stylesheet" href="\/app.css"><\/head><body><main id="app"><div data-ssr-component="Hello"/,
      );
      assert.ok(aHtml.endsWith('</script></main><script src="/app.mjs" type="module"></script></body></html>'));

      const b = await fetch(`${site.url}/function`);
      assert.equal(b.status, 404);
      const bHtml = await b.text();
      assert.match(bHtml, /^<html><title>&lt;Function&gt;<\/title><body><section><div data-ssr-component="Hello"/);
      assert.ok(bHtml.endsWith("</script></section></body></html>"));
    } finally {
      await site.close();
    }
  });

  test("a broken template is refused when the middleware is created", () => {
    assert.throws(() => ssrMiddleware({ url: server.url }, { template: "<html></html>" }), TypeError);
    assert.throws(() => ssrMiddleware({ url: server.url }, { template: () => "<html></html>" }), TypeError);
  });

  test("a browser that goes away cancels the render", async () => {
    const client = createClient({ url: server.url });
    const app = express();
    let finished;
    const done = new Promise((resolve) => {
      finished = resolve;
    });
    app.use(ssrMiddleware(client));
    app.get("/", (req, res) =>
      res.renderSSR("TimerLoop", {}, { title: "gone", timeoutMs: 1500 }).then(() => finished(Date.now())),
    );
    const site = await listen(app);
    try {
      const started = Date.now();
      const controller = new AbortController();
      const response = await fetch(site.url, { signal: controller.signal });
      const reader = response.body.getReader();
      await reader.read(); // the head
      controller.abort();
      const at = await done;
      assert.ok(at - started < 1000, `render cancelled after ${at - started} ms`);
      assert.equal(client.stats().errors, 0, "a cancelled render is no service failure");
      assert.equal(client.stats().fallbacks, 0);
    } finally {
      await site.close();
      await new Promise((resolve) => setTimeout(resolve, 1200));
    }
  });

  test("renderPage builds the same page as a string", async () => {
    const client = createClient({ url: server.url });
    const page = await renderPage(client, "Hello", { name: "page" }, { title: "P" });
    assert.match(page, /^<!DOCTYPE html>.*<title>P<\/title>.*data-ssr-component="Hello".*<\/body><\/html>$/s);
  });
});
