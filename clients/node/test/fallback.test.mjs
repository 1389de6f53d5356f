// Client-side-render fallback and the escaping of the props script.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { JSDOM } from "jsdom";

import {
  createClient,
  escapeJsonForScript,
  SsrHttpError,
  SsrNetworkError,
  SsrTimeoutError,
} from "../index.mjs";
import { combinedBundle, errorLog, freePort, startServer } from "./helpers/server.mjs";

const HOSTILE = {
  closeScript: "</script><script>globalThis.pwned = 1</script>",
  closeScriptUpper: "</SCRIPT ><img src=x onerror=pwned()>",
  comment: "<!-- <script>",
  cdata: "]]><![CDATA[",
  amp: "&amp; &lt; &#x3c;",
  separators: "line\u2028para\u2029end",
  quotes: `"'\``,
  nested: { list: ["</script>", "<!--", "\u2028"], n: 1.5, t: true, z: null },
};

let server;
let bundle;

before(async () => {
  bundle = combinedBundle("basic", "timer-loop");
  server = await startServer({ bundle });
});

after(async () => {
  await server?.stop();
});

// Parses a fragment the way a browser does and returns the placeholder and
// its props script.
function inBrowser(markup) {
  const dom = new JSDOM(`<!DOCTYPE html><html><body>${markup}</body></html>`);
  const { document } = dom.window;
  const placeholders = document.querySelectorAll("[data-ssr-component]");
  const scripts = document.querySelectorAll("script");
  assert.equal(placeholders.length, 1, "exactly one placeholder");
  assert.equal(scripts.length, 1, "exactly one script element: nothing broke out");
  assert.equal(document.querySelectorAll("img").length, 0);
  const element = placeholders[0];
  const script = scripts[0];
  assert.equal(script.getAttribute("type"), "application/json");
  assert.equal(script.getAttribute("data-ssr-props-for"), element.getAttribute("data-ssr-id"));
  assert.equal(element.nextElementSibling, script, "the props script follows its placeholder");
  return { element, script, props: JSON.parse(script.textContent), document };
}

function assertNoBreakout(markup) {
  const scriptBody = markup.slice(markup.indexOf('data-ssr-props-for="'));
  const json = scriptBody.slice(scriptBody.indexOf(">") + 1, scriptBody.lastIndexOf("</script>"));
  assert.ok(!/[<>&\u2028\u2029]/.test(json), `unescaped character in props script: ${json}`);
}

describe("fallback", () => {
  test("a service timeout (504) gives a client-render placeholder and reports the error", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError });
    const markup = await client.render("TimerLoop", { a: 1 }, { timeoutMs: 300 });
    const { element, props } = inBrowser(markup);
    assert.equal(element.getAttribute("data-ssr-component"), "TimerLoop");
    assert.equal(element.getAttribute("data-ssr-fallback"), "timeout");
    assert.equal(element.innerHTML, "");
    assert.deepEqual(props, { a: 1 });
    assert.equal(log.calls.length, 1);
    assert.ok(log.calls[0].error instanceof SsrTimeoutError);
    assert.equal(log.calls[0].error.status, 504);
    assert.deepEqual(log.calls[0].info, {
      component: "TimerLoop",
      id: element.getAttribute("data-ssr-id"),
      fallback: true,
    });
    const stats = client.stats();
    assert.equal(stats.fallbacks, 1);
    assert.equal(stats.errors, 1);
    assert.equal(stats.ssr, 0);
  });

  test("the client's own deadline also falls back", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError, timeoutMs: 150 });
    const started = Date.now();
    const markup = await client.render("TimerLoop", {}, { serverTimeoutMs: 400 });
    assert.ok(Date.now() - started < 1000);
    assert.equal(inBrowser(markup).element.getAttribute("data-ssr-fallback"), "timeout");
    assert.ok(log.calls[0].error instanceof SsrTimeoutError);
    assert.equal(log.calls[0].error.status, undefined);
    await new Promise((resolve) => setTimeout(resolve, 400));
  });

  test("component errors fall back too (404, 500)", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, onError: log.onError });
    const missing = inBrowser(await client.render("Missing", { x: 1 }));
    assert.equal(missing.element.getAttribute("data-ssr-fallback"), "unknown_component");
    const throws = inBrowser(await client.render("Throws", {}));
    assert.equal(throws.element.getAttribute("data-ssr-fallback"), "render_error");
    assert.deepEqual(
      log.calls.map((c) => [c.error.constructor.name, c.error.status]),
      [
        ["SsrHttpError", 404],
        ["SsrHttpError", 500],
      ],
    );
  });

  test("per-call fallback: false throws instead", async () => {
    const client = createClient({ url: server.url });
    await assert.rejects(client.render("Missing", {}, { fallback: false }), SsrHttpError);
    assert.equal(client.stats().fallbacks, 0);
    assert.equal(client.stats().errors, 1);
  });

  test("an onError hook that throws does not break the fallback", async () => {
    const client = createClient({
      url: server.url,
      onError() {
        throw new Error("hook exploded");
      },
    });
    const markup = await client.render("Missing", {});
    assert.equal(inBrowser(markup).element.getAttribute("data-ssr-fallback"), "unknown_component");
  });

  test("a hung service (process stopped) times out into the fallback", async () => {
    const hung = await startServer({ bundle });
    const log = errorLog();
    const client = createClient({ url: hung.url, onError: log.onError, timeoutMs: 300 });
    assert.equal(inBrowser(await client.render("Hello", {})).element.hasAttribute("data-ssr-fallback"), false);
    hung.child.kill("SIGSTOP");
    try {
      const started = Date.now();
      const markup = await client.render("Hello", { name: "late" });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 1500, `took ${elapsed} ms`);
      const { element, props } = inBrowser(markup);
      assert.equal(element.getAttribute("data-ssr-fallback"), "timeout");
      assert.deepEqual(props, { name: "late" });
      assert.ok(log.calls[0].error instanceof SsrTimeoutError);
    } finally {
      hung.child.kill("SIGCONT");
      await hung.stop();
    }
  });

  test("a stopped service: network error, bounded retries, then the fallback", async () => {
    const doomed = await startServer({ bundle });
    const log = errorLog();
    const client = createClient({ url: doomed.url, onError: log.onError, retries: 2, retryDelayMs: 20 });
    inBrowser(await client.render("Hello", {}));
    const exit = await doomed.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "graceful stop");

    const started = Date.now();
    const markup = await client.render("Hello", { name: "offline" });
    const elapsed = Date.now() - started;
    const { element, props } = inBrowser(markup);
    assert.equal(element.getAttribute("data-ssr-fallback"), "network_error");
    assert.deepEqual(props, { name: "offline" });
    assert.equal(log.calls.length, 1);
    const error = log.calls[0].error;
    assert.ok(error instanceof SsrNetworkError);
    assert.match(error.message, /ECONNREFUSED/);
    const stats = client.stats();
    assert.equal(stats.retries, 2);
    assert.equal(stats.requests, 1 + 3);
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });

  test("a service that was never there", async () => {
    const client = createClient({ url: `http://127.0.0.1:${await freePort()}`, retries: 0 });
    const results = await client.renderBatch([{ component: "A" }, { component: "B", props: { b: 2 } }]);
    assert.deepEqual(
      results.map((r) => [r.component, r.ok, r.fallback, r.error.code]),
      [
        ["A", false, true, "network_error"],
        ["B", false, true, "network_error"],
      ],
    );
    assert.deepEqual(inBrowser(results[1].html).props, { b: 2 });
    assert.equal(client.stats().fallbacks, 2);
  });
});

describe("escaping", () => {
  test("escapeJsonForScript", () => {
    assert.equal(
      escapeJsonForScript(JSON.stringify({ a: "</script><!--&\u2028\u2029" })),
      '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026\\u2028\\u2029"}',
    );
  });

  test("hostile props cannot break out of a successful render's props script", async () => {
    const client = createClient({ url: server.url, fallback: false });
    const markup = await client.render("Echo", HOSTILE);
    assertNoBreakout(markup);
    const { element, props, document } = inBrowser(markup);
    assert.deepEqual(props, HOSTILE);
    // The component echoed the props as text; React escaped it.
    assert.equal(element.querySelector("pre.echo").textContent, JSON.stringify(HOSTILE));
    assert.equal(document.defaultView.pwned, undefined);
  });

  test("hostile props cannot break out of a fallback placeholder", async () => {
    const client = createClient({ url: `http://127.0.0.1:${await freePort()}`, retries: 0 });
    const markup = await client.render("Echo", HOSTILE);
    assertNoBreakout(markup);
    const { element, props } = inBrowser(markup);
    assert.equal(element.getAttribute("data-ssr-fallback"), "network_error");
    assert.deepEqual(props, HOSTILE);
  });

  test("hostile component names and ids are attribute-escaped", async () => {
    const client = createClient({ url: server.url });
    const name = `"><img src=x onerror=pwned()><div x="`;
    const markup = await client.render(name, {}, { id: `a"b<c>` });
    const { element } = inBrowser(markup);
    assert.equal(element.getAttribute("data-ssr-component"), name);
    assert.equal(element.getAttribute("data-ssr-id"), `a"b<c>`);
    assert.equal(element.getAttribute("data-ssr-fallback"), "unknown_component");
  });

  test("the props script is valid JavaScript too", async () => {
    const client = createClient({ url: server.url });
    const markup = await client.render("Echo", HOSTILE);
    const { script } = inBrowser(markup);
    // eslint-disable-next-line no-new-func
    assert.deepEqual(new Function(`return ${script.textContent}`)(), HOSTILE);
  });
});
