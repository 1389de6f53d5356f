"use strict";

const { SsrError, SsrHttpError } = require("./errors.cjs");
const { readOptions } = require("./options.cjs");
const { parseJson } = require("./responses.cjs");
const { callContext, createTransport } = require("./transport.cjs");
const { createRetrier } = require("./retry.cjs");
const { createGuard } = require("./guard.cjs");
const { createInflight } = require("./dedupe.cjs");
const { createFallback } = require("./fallback.cjs");
const { createRender } = require("./render.cjs");
const { createRenderBatch } = require("./batch.cjs");

/**
 * Creates a client for the SSR render service.
 * See index.d.ts for the options and README.md for examples.
 */
function createClient(options = {}) {
  const settings = readOptions(options);
  const baseUrl = settings.url;
  const defaultTimeoutMs = settings.timeoutMs;
  const { breaker } = settings;
  const fallbackByDefault = settings.fallback;

  const counters = {
    renders: 0,
    ssr: 0,
    fallbacks: 0,
    errors: 0,
    requests: 0,
    retries: 0,
    deduped: 0,
    circuitSkipped: 0,
  };
  const inflight = createInflight(counters);
  const exchange = createTransport(settings, counters);
  const withRetries = createRetrier(settings, counters);
  const guarded = createGuard(breaker, counters);
  // Every service call is retried as needed, inside the circuit breaker.
  const serve = (call, attempt) => guarded(call, () => withRetries(attempt, call));
  const { recover, recoverJob } = createFallback(settings, counters);
  const render = createRender({ settings, counters, exchange, serve, inflight, recover });
  const renderBatch = createRenderBatch({ settings, counters, exchange, serve, recover, recoverJob });

  async function getJson(path, options = {}) {
    const call = callContext(undefined, options, defaultTimeoutMs);
    const response = await exchange({ method: "GET", path, accept: "application/json" }, call);
    return { status: response.status, body: parseJson(response.text) };
  }

  /** True when the service answers GET /ready with 200. Never throws. */
  async function ready(options) {
    try {
      return (await getJson("/ready", options)).status === 200;
    } catch (error) {
      if (error instanceof SsrError) return false;
      throw error;
    }
  }

  /** GET /health: the service's JSON (throws SsrError when unreachable). */
  async function health(options) {
    const { status, body } = await getJson("/health", options);
    if (status !== 200) {
      throw new SsrHttpError(`SSR service health check answered ${status}`, { status, code: `http_${status}`, body });
    }
    return body;
  }

  return {
    url: baseUrl,
    fallback: fallbackByDefault,
    render,
    renderBatch,
    ready,
    health,
    get circuitState() {
      return breaker ? breaker.state : "closed";
    },
    stats() {
      return { ...counters, inflight: inflight.size, circuit: breaker ? breaker.state : "closed" };
    },
  };
}

module.exports = { createClient };
