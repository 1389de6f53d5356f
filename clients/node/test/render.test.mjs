// render, renderBatch and the error classes against the real service.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";

import {
  createClient,
  SsrError,
  SsrHttpError,
  SsrNetworkError,
  SsrTimeoutError,
} from "../index.mjs";
import { combinedBundle, errorLog, freePort, startServer } from "./helpers/server.mjs";

const require = createRequire(import.meta.url);

const HELLO = '<div class="hello"><h1>Hello, <!-- -->Ada<!-- -->!</h1></div>';

let server;

before(async () => {
  // One render in flight per isolate: a render waiting on its timers keeps
  // the only worker busy, so the 503 tests can queue behind it.
  server = await startServer({
    bundle: combinedBundle("basic", "never", "timer-loop"),
    args: ["--queue-timeout-ms", "200", "--max-renders-in-flight", "1"],
  });
});

after(async () => {
  const exit = await server?.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, "ssr-pool exits 0 on SIGTERM");
});

function parseMarkup(markup) {
  const match = markup.match(
    /^<div data-ssr-component="([^"]*)" data-ssr-id="([^"]*)"( data-ssr-fallback="([^"]*)")?>([\s\S]*)<\/div><script type="application\/json" data-ssr-props-for="([^"]*)">([\s\S]*)<\/script>$/,
  );
  assert.ok(match, `not hydration markup: ${markup}`);
  const [, component, id, , fallback, html, propsFor, json] = match;
  assert.equal(propsFor, id);
  return { component, id, fallback, html, props: JSON.parse(json) };
}

describe("render", () => {
  test("returns the server HTML wrapped for hydration", async () => {
    const client = createClient({ url: server.url });
    const markup = await client.render("Hello", { name: "Ada" });
    const parsed = parseMarkup(markup);
    assert.equal(parsed.component, "Hello");
    assert.equal(parsed.html, HELLO);
    assert.deepEqual(parsed.props, { name: "Ada" });
    assert.equal(parsed.fallback, undefined);
    assert.match(parsed.id, /^ssr-[0-9a-f]{6}-[0-9a-z]+$/);
    assert.deepEqual(
      { renders: client.stats().renders, ssr: client.stats().ssr, errors: client.stats().errors },
      { renders: 1, ssr: 1, errors: 0 },
    );
  });

  test("wrap: false returns the bare HTML; ids are unique unless given", async () => {
    const client = createClient({ url: server.url });
    assert.equal(await client.render("Hello", { name: "Ada" }, { wrap: false }), HELLO);
    const a = parseMarkup(await client.render("Hello", {}));
    const b = parseMarkup(await client.render("Hello", {}));
    assert.notEqual(a.id, b.id);
    const c = parseMarkup(await client.render("Hello", {}, { id: 'main"page' }));
    assert.equal(c.id, "main&quot;page");
  });

  test("undefined props are sent as {} and async components work", async () => {
    const client = createClient({ url: server.url });
    const parsed = parseMarkup(await client.render("Async"));
    assert.deepEqual(parsed.props, {});
    assert.match(parsed.html, /<li>timeout 0<\/li>/);
  });

  test("unicode props survive the round trip", async () => {
    const client = createClient({ url: server.url });
    const props = { text: "naïve café 日本語 🎉 \u2028 \ud800 </script>" };
    const markup = await client.render("Echo", props);
    const parsed = parseMarkup(markup);
    assert.deepEqual(parsed.props, props);
    // The component printed JSON.stringify(props), HTML-escaped by React.
    assert.ok(parsed.html.includes("日本語 🎉"));
    assert.ok(parsed.html.includes("&lt;/script&gt;"));
  });

  test("ESM and CommonJS entries share one implementation", () => {
    const cjs = require("../index.cjs");
    assert.equal(cjs.SsrError, SsrError);
    assert.equal(cjs.createClient, createClient);
  });

  test("ready() and health()", async () => {
    const client = createClient({ url: server.url });
    assert.equal(await client.ready(), true);
    assert.deepEqual(await client.health(), { status: "ok" });
    const dead = createClient({ url: `http://127.0.0.1:${await freePort()}`, retries: 0 });
    assert.equal(await dead.ready(), false);
    await assert.rejects(dead.health(), SsrNetworkError);
  });

  test("bad arguments are programming errors, not fallbacks", async () => {
    const client = createClient({ url: server.url });
    await assert.rejects(client.render(""), TypeError);
    const circular = {};
    circular.self = circular;
    await assert.rejects(client.render("Echo", circular), TypeError);
    await assert.rejects(client.render("Echo", {}, { timeoutMs: -1 }), TypeError);
    assert.throws(() => createClient({ url: "ftp://example" }), TypeError);
    assert.equal(client.stats().errors, 0);
  });
});

describe("apps", () => {
  test("app names the service's app, for render and renderBatch", async () => {
    const client = createClient({ url: server.url, app: "default", fallback: false });
    assert.equal(parseMarkup(await client.render("Hello", { name: "Ada" })).html, HELLO);
    const [job] = await client.renderBatch([{ component: "Hello", props: { name: "Ada" } }]);
    assert.equal(job.ok, true);
    assert.equal(parseMarkup(job.html).html, HELLO);
  });

  test("an app the service does not have -> 404 unknown_app", async () => {
    const client = createClient({ url: server.url, app: "storefront", fallback: false, retries: 0 });
    const error = await client.render("Hello", {}).catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.equal(error.status, 404);
    assert.equal(error.code, "unknown_app");
    const batch = await client.renderBatch([{ component: "Hello", props: {} }]).catch((e) => e);
    assert.ok(batch instanceof SsrHttpError, String(batch));
    assert.equal(batch.code, "unknown_app");
  });

  test("a bad app name is a programming error", () => {
    assert.throws(() => createClient({ app: "a/b" }), TypeError);
    assert.throws(() => createClient({ app: 7 }), TypeError);
  });
});

describe("errors (fallback: false)", () => {
  const strict = () => createClient({ url: server.url, fallback: false, retries: 0 });

  test("404 unknown_component -> SsrHttpError with the JSON body", async () => {
    const error = await strict().render("Nope", {}).catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.ok(error instanceof SsrError);
    assert.equal(error.name, "SsrHttpError");
    assert.equal(error.status, 404);
    assert.equal(error.code, "unknown_component");
    assert.equal(error.component, "Nope");
    assert.deepEqual(error.body, {
      error: { status: 404, code: "unknown_component", message: 'Component "Nope" not registered' },
    });
  });

  test("500 render_error -> SsrHttpError with the JS error details", async () => {
    const error = await strict().render("Throws", {}).catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.equal(error.status, 500);
    assert.equal(error.code, "render_error");
    assert.equal(error.body.error.details.name, "Error");
    assert.equal(error.body.error.details.message, "boom from component");
  });

  test("400 bad_request -> SsrHttpError", async () => {
    // Props passed as ready-made JSON text are sent as they are.
    const error = await strict()
      .render("Hello", undefined, { propsJson: '{"name": ' })
      .catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.equal(error.status, 400);
    assert.equal(error.code, "bad_request");
    assert.match(error.body.error.message, /invalid render request/);
  });

  test("413 body_too_large -> SsrHttpError", async () => {
    const error = await strict()
      .render("Echo", { blob: "x".repeat(1_100_000) })
      .catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.equal(error.status, 413);
    assert.equal(error.code, "body_too_large");
  });

  test("a render that can never settle -> 500 never_settled", async () => {
    const error = await strict().render("Never", {}).catch((e) => e);
    assert.ok(error instanceof SsrHttpError, String(error));
    assert.equal(error.status, 500);
    assert.equal(error.code, "never_settled");
  });

  test("504 from the service (timeoutMs, a render that keeps timers running) -> SsrTimeoutError", async () => {
    const started = Date.now();
    const error = await strict()
      .render("TimerLoop", {}, { timeoutMs: 400 })
      .catch((e) => e);
    const elapsed = Date.now() - started;
    assert.ok(error instanceof SsrTimeoutError, String(error));
    assert.ok(error instanceof SsrError);
    assert.equal(error.status, 504, "the service answered before the client gave up");
    assert.equal(error.code, "timeout");
    assert.equal(error.body.error.code, "timeout");
    assert.equal(error.timeoutMs, 400);
    assert.ok(elapsed >= 300 && elapsed < 2000, `took ${elapsed} ms`);
  });

  test("client deadline before the service's -> SsrTimeoutError without a status", async () => {
    const started = Date.now();
    const error = await strict()
      .render("TimerLoop", {}, { timeoutMs: 200, serverTimeoutMs: 500 })
      .catch((e) => e);
    const elapsed = Date.now() - started;
    assert.ok(error instanceof SsrTimeoutError, String(error));
    assert.equal(error.status, undefined);
    assert.ok(elapsed >= 180 && elapsed < 1500, `took ${elapsed} ms`);
    // Let the service finish that render before the next test.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 500 - elapsed) + 100));
  });

  // In the 503 tests the only worker is kept busy by a render that runs
  // into its deadline; a render queued behind it gets 503 queue_timeout.
  // Resolves once that render is running; `busy` settles with its outcome.
  async function occupyWorker(client) {
    const busy = client.render("TimerLoop", {}, { timeoutMs: 500 }).catch((e) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { busy };
  }

  // Renders Hello for Ada; resolves with the markup and how long it took.
  async function timedHello(client) {
    const started = Date.now();
    const markup = await client.render("Hello", { name: "Ada" }, { timeoutMs: 5000 });
    return { markup, elapsed: Date.now() - started };
  }

  test("503 queue_timeout -> SsrHttpError with Retry-After (no retries)", async () => {
    const client = strict();
    const { busy } = await occupyWorker(client);
    const error = await client.render("Hello", {}).catch((e) => e);
    assert.ok(error instanceof SsrHttpError, String(error));
    assert.equal(error.status, 503);
    assert.equal(error.code, "queue_timeout");
    assert.equal(error.retryAfterMs, 1000);
    assert.equal(client.stats().retries, 0);
    assert.ok((await busy) instanceof SsrTimeoutError);
  });

  test("503 is retried after the Retry-After the service asked for", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 2 });
    const { busy } = await occupyWorker(client);
    const { markup, elapsed } = await timedHello(client);
    assert.equal(parseMarkup(markup).html, HELLO);
    assert.equal(client.stats().retries, 1);
    // 503 at the service's queue timeout, then the 1 s Retry-After.
    assert.ok(elapsed >= 1000, `retried after ${elapsed} ms`);
    assert.ok((await busy) instanceof SsrTimeoutError);
  });

  test("the Retry-After wait is bounded by maxRetryDelayMs", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 2, maxRetryDelayMs: 100 });
    const { busy } = await occupyWorker(client);
    const { markup, elapsed } = await timedHello(client);
    assert.equal(parseMarkup(markup).html, HELLO);
    assert.equal(client.stats().retries, 1);
    assert.ok(elapsed < 1300, `retried after ${elapsed} ms (1.45 s or more without the bound)`);
    await busy;
  });

  test("no retry when the deadline would pass first", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 2 });
    const { busy } = await occupyWorker(client);
    const error = await client.render("Hello", {}, { timeoutMs: 1200 }).catch((e) => e);
    assert.ok(error instanceof SsrHttpError, String(error));
    assert.equal(error.status, 503);
    assert.equal(client.stats().retries, 0);
    await busy;
  });

  test("errors are not retried when they cannot succeed", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 3 });
    await assert.rejects(client.render("Nope"), SsrHttpError);
    await assert.rejects(client.render("Throws"), SsrHttpError);
    assert.equal(client.stats().retries, 0);
    assert.equal(client.stats().requests, 2);
  });
});

describe("renderBatch", () => {
  test("renders every job through /batch, in order, wrapped", async () => {
    const client = createClient({ url: server.url });
    const results = await client.renderBatch([
      { component: "Hello", props: { name: "Ada" } },
      { component: "List", props: { items: [{ id: 1, label: "one" }] } },
      { name: "Echo", data: { a: 1 } },
    ]);
    assert.equal(results.length, 3);
    assert.deepEqual(
      results.map((r) => [r.component, r.ok, r.fallback, r.statusCode]),
      [
        ["Hello", true, false, 200],
        ["List", true, false, 200],
        ["Echo", true, false, 200],
      ],
    );
    assert.equal(parseMarkup(results[0].html).html, HELLO);
    assert.equal(parseMarkup(results[1].html).html, '<ul class="list"><li data-id="1">one</li></ul>');
    assert.deepEqual(parseMarkup(results[2].html).props, { a: 1 });
    assert.equal(client.stats().requests, 1);
    assert.ok(results.every((r) => typeof r.durationMs === "number"));
  });

  test("failed jobs fall back one by one", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError });
    const results = await client.renderBatch([
      { component: "Hello", props: { name: "Ada" } },
      { component: "Nope", props: {} },
      { component: "Throws", props: {} },
    ]);
    assert.equal(results[0].ok, true);
    assert.equal(results[1].ok, false);
    assert.equal(results[1].fallback, true);
    assert.equal(results[1].error.status, 404);
    assert.equal(results[1].error.code, "unknown_component");
    assert.equal(parseMarkup(results[1].html).fallback, "unknown_component");
    assert.equal(results[2].error.status, 500);
    assert.equal(results[2].error.code, "render_error");
    assert.equal(results[2].error.body.error.message, "boom from component");
    assert.deepEqual(
      log.calls.map((c) => c.info.component),
      ["Nope", "Throws"],
    );
    assert.equal(client.stats().fallbacks, 2);
  });

  test("with fallback off, failed jobs have html null; a failed request throws", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 0 });
    const results = await client.renderBatch([{ component: "Nope" }, { component: "Hello", props: { name: "Ada" } }]);
    assert.equal(results[0].html, null);
    assert.ok(results[0].error instanceof SsrHttpError);
    assert.equal(parseMarkup(results[1].html).html, HELLO);

    const dead = createClient({ url: `http://127.0.0.1:${await freePort()}`, fallback: false, retries: 0 });
    await assert.rejects(dead.renderBatch([{ component: "Hello" }]), SsrNetworkError);
    assert.deepEqual(await dead.renderBatch([]), []);
  });

  test("a batch with an oversized body gets 413", async () => {
    const client = createClient({ url: server.url, fallback: false, retries: 0 });
    const error = await client
      .renderBatch([{ component: "Echo", props: { blob: "x".repeat(1_100_000) } }])
      .catch((e) => e);
    assert.ok(error instanceof SsrHttpError);
    assert.equal(error.status, 413);
  });
});
