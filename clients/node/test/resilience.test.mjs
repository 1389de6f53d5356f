// Connection reuse, in-flight de-duplication and the circuit breaker.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createClient, SsrCircuitOpenError, SsrNetworkError } from "../index.mjs";
import {
  combinedBundle,
  errorLog,
  fixture,
  freePort,
  startCountingProxy,
  startServer,
} from "./helpers/server.mjs";

let server;

before(async () => {
  server = await startServer({ bundle: combinedBundle("basic", "timer-loop") });
});

after(async () => {
  await server?.stop();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Node's fetch (undici) opens a second socket for the second request of a
// fresh pool (the first is not back in the pool yet when the next request
// is dispatched) and then reuses both; hence "at most 2" below.
describe("keep-alive", () => {
  test("sequential renders reuse their connections", async () => {
    const proxy = await startCountingProxy(server.port);
    try {
      const client = createClient({ url: proxy.url });
      for (let i = 0; i < 25; i++) {
        await client.render("Hello", { name: `n${i}` });
      }
      await client.renderBatch([{ component: "Hello" }, { component: "List" }]);
      assert.equal(client.stats().requests, 26);
      assert.ok(proxy.connections <= 2, `${proxy.connections} TCP connections for 26 requests`);
    } finally {
      await proxy.close();
    }
  });

  test("concurrent renders open at most one connection each, then reuse them", async () => {
    const proxy = await startCountingProxy(server.port);
    try {
      const client = createClient({ url: proxy.url });
      await Promise.all(Array.from({ length: 4 }, (_, i) => client.render("Async", { title: `t${i}` })));
      const afterBurst = proxy.connections;
      assert.ok(afterBurst >= 1 && afterBurst <= 4, `${afterBurst} connections for 4 concurrent renders`);
      for (let i = 0; i < 10; i++) await client.render("Hello", {});
      await Promise.all(Array.from({ length: 4 }, () => client.render("Hello", {})));
      assert.ok(
        proxy.connections <= afterBurst + 1,
        `${proxy.connections} connections after the burst had ${afterBurst}`,
      );
    } finally {
      await proxy.close();
    }
  });

  test("error answers (404, 500, 504) keep the connection", async () => {
    const proxy = await startCountingProxy(server.port);
    try {
      const client = createClient({ url: proxy.url, retries: 0 });
      await client.render("Hello", {});
      await client.render("Missing", {});
      await client.render("Throws", {});
      // The service's 504, not the client giving up first: a client that
      // aborts at its own deadline drops the connection, which is right.
      await client.render("TimerLoop", {}, { timeoutMs: 5000, serverTimeoutMs: 200 });
      await client.render("Hello", {});
      assert.equal(client.stats().fallbacks, 3);
      assert.ok(proxy.connections <= 2, `${proxy.connections} connections for 5 requests`);
    } finally {
      await proxy.close();
    }
  });
});

describe("dedupe", () => {
  test("identical concurrent renders share one request; each gets its own id", async () => {
    const client = createClient({ url: server.url, dedupe: true });
    const props = { title: "same" };
    const results = await Promise.all(Array.from({ length: 5 }, () => client.render("Async", props)));
    const stats = client.stats();
    assert.equal(stats.requests, 1);
    assert.equal(stats.deduped, 4);
    assert.equal(stats.renders, 5);
    assert.equal(stats.ssr, 5);
    assert.equal(stats.inflight, 0);
    const ids = results.map((m) => m.match(/data-ssr-id="([^"]+)"/)[1]);
    assert.equal(new Set(ids).size, 5);
    const bodies = new Set(results.map((m) => m.replace(/ssr-[0-9a-f]{6}-[0-9a-z]+/g, "ID")));
    assert.equal(bodies.size, 1);
  });

  test("different props or components are not merged; finished renders are not cached", async () => {
    const client = createClient({ url: server.url, dedupe: true });
    await Promise.all([
      client.render("Hello", { name: "a" }),
      client.render("Hello", { name: "b" }),
      client.render("Echo", { name: "a" }),
      client.render("Hello", { name: "a" }),
    ]);
    assert.equal(client.stats().requests, 3);
    await client.render("Hello", { name: "a" });
    assert.equal(client.stats().requests, 4);
  });

  test("a shared failure falls back for every caller", async () => {
    const log = errorLog();
    const client = createClient({ url: server.url, dedupe: true, onError: log.onError });
    const results = await Promise.all(Array.from({ length: 3 }, () => client.render("Missing", { q: 1 })));
    assert.equal(client.stats().requests, 1);
    assert.ok(results.every((m) => m.includes('data-ssr-fallback="unknown_component"')));
    assert.equal(log.calls.length, 3);
  });

  test("one caller aborting does not cancel the shared request", async () => {
    const client = createClient({ url: server.url, dedupe: true });
    const controller = new AbortController();
    const first = client.render("Async", { title: "abort" }, { signal: controller.signal });
    const second = client.render("Async", { title: "abort" });
    controller.abort();
    await assert.rejects(first, { name: "AbortError" });
    assert.match(await second, /<h2>abort<\/h2>/);
    assert.equal(client.stats().requests, 1);
    assert.equal(client.stats().errors, 0, "an abort is not a service failure");
  });

  test("without dedupe every call is its own request", async () => {
    const client = createClient({ url: server.url });
    await Promise.all(Array.from({ length: 3 }, () => client.render("Async", { title: "x" })));
    assert.equal(client.stats().requests, 3);
    assert.equal(client.stats().deduped, 0);
  });
});

describe("circuit breaker", () => {
  test("opens after N consecutive failures, skips the service, probes after the cool-down", async () => {
    const port = await freePort();
    const states = [];
    const log = errorLog();
    const client = createClient({
      url: `http://127.0.0.1:${port}`,
      retries: 0,
      onError: log.onError,
      circuitBreaker: { failureThreshold: 3, cooldownMs: 400, onStateChange: (s) => states.push(s) },
    });
    for (let i = 0; i < 3; i++) {
      assert.match(await client.render("Hello", {}), /data-ssr-fallback="network_error"/);
    }
    assert.equal(client.circuitState, "open");
    assert.equal(client.stats().requests, 3);

    // Open: straight to the fallback, no request.
    const started = Date.now();
    const skipped = await client.render("Hello", { name: "skipped" });
    assert.ok(Date.now() - started < 100);
    assert.match(skipped, /data-ssr-fallback="circuit_open"/);
    assert.equal(client.stats().requests, 3);
    assert.equal(client.stats().circuitSkipped, 1);
    assert.ok(log.calls.at(-1).error instanceof SsrCircuitOpenError);
    assert.ok(log.calls.at(-1).error.retryInMs > 0);

    // Half-open probe fails: open again for another cool-down.
    await sleep(450);
    assert.equal(client.circuitState, "half-open");
    assert.match(await client.render("Hello", {}), /data-ssr-fallback="network_error"/);
    assert.equal(client.stats().requests, 4);
    assert.equal(client.circuitState, "open");

    // The service comes back; after the cool-down one probe goes through,
    // concurrent calls keep falling back until it succeeds.
    const revived = await startServer({ bundle: fixture("basic"), port });
    try {
      await sleep(450);
      const burst = await Promise.all([
        client.render("Async", { title: "probe" }),
        client.render("Hello", { name: "during" }),
        client.render("Hello", { name: "during" }),
      ]);
      assert.match(burst[0], /<h2>probe<\/h2>/);
      assert.ok(burst.slice(1).every((m) => m.includes('data-ssr-fallback="circuit_open"')));
      assert.equal(client.circuitState, "closed");
      assert.match(await client.render("Hello", { name: "back" }), /back/);
      assert.deepEqual(states, ["open", "half-open", "open", "half-open", "closed"]);
    } finally {
      await revived.stop();
    }
  });

  test("component errors do not open it; timeouts do", async () => {
    const client = createClient({
      url: server.url,
      retries: 0,
      circuitBreaker: { failureThreshold: 2, cooldownMs: 10_000 },
    });
    for (let i = 0; i < 4; i++) {
      await client.render("Missing", {});
      await client.render("Throws", {});
    }
    assert.equal(client.circuitState, "closed");
    await client.render("TimerLoop", {}, { timeoutMs: 150 });
    assert.equal(client.circuitState, "closed", "one failure is below the threshold");
    await client.render("Hello", {});
    await client.render("TimerLoop", {}, { timeoutMs: 150 });
    assert.equal(client.circuitState, "closed", "a success resets the count");
    await client.render("TimerLoop", {}, { timeoutMs: 150 });
    assert.equal(client.circuitState, "open");
  });

  test("with fallback off the open circuit throws SsrCircuitOpenError", async () => {
    const client = createClient({
      url: `http://127.0.0.1:${await freePort()}`,
      retries: 0,
      fallback: false,
      circuitBreaker: { failureThreshold: 1, cooldownMs: 10_000 },
    });
    await assert.rejects(client.render("Hello", {}), SsrNetworkError);
    await assert.rejects(client.render("Hello", {}), SsrCircuitOpenError);
    await assert.rejects(client.renderBatch([{ component: "Hello" }]), SsrCircuitOpenError);
  });
});
