"use strict";

// createClient puts a client together from its parts, one module each:
//
//   options.cjs    the options of createClient, their defaults and checks
//   transport.cjs  one HTTP request, within the deadline of its call
//   responses.cjs  the service's error answers as SsrErrors
//   retry.cjs      attempts again after network errors and 503s
//   guard.cjs      the circuit breaker (breaker.cjs) around a service call
//   dedupe.cjs     identical renders in flight share one request
//   fallback.cjs   onError, and placeholders for failed renders
//   render.cjs     client.render (POST /render)
//   stream.cjs     client.renderStream (POST /render, read as it streams)
//   batch.cjs      client.renderBatch (POST /batch)
//   health.cjs     client.ready and client.health
//
// The parts count what they do in one `counters` object: client.stats().

const { readOptions } = require("./options.cjs");
const { createTransport } = require("./transport.cjs");
const { createRetrier } = require("./retry.cjs");
const { createGuard } = require("./guard.cjs");
const { createInflight } = require("./dedupe.cjs");
const { createFallback } = require("./fallback.cjs");
const { createRender } = require("./render.cjs");
const { createRenderStream } = require("./stream.cjs");
const { createRenderBatch } = require("./batch.cjs");
const { createHealthChecks } = require("./health.cjs");

/**
 * Creates a client for the SSR render service.
 * See index.d.ts for the options and README.md for examples.
 */
function createClient(options = {}) {
  const settings = readOptions(options);
  const { breaker } = settings;
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
  // A render or batch request is retried as needed, inside the breaker: a
  // call that was retried to no avail counts as one failure.
  const serve = (call, attempt) => guarded(call, () => withRetries(attempt, call));
  const { recover, recoverJob, report } = createFallback(settings, counters);
  const { ready, health } = createHealthChecks({ settings, exchange });

  return {
    url: settings.url,
    fallback: settings.fallback,
    render: createRender({ settings, counters, exchange, serve, inflight, recover }),
    renderStream: createRenderStream({ settings, counters, exchange, serve, recover, report }),
    renderBatch: createRenderBatch({ settings, counters, exchange, serve, recover, recoverJob }),
    ready,
    health,
    get circuitState() {
      return circuitState(breaker);
    },
    stats() {
      return { ...counters, inflight: inflight.size, circuit: circuitState(breaker) };
    },
  };
}

// A client without a breaker never skips the service: always closed.
function circuitState(breaker) {
  return breaker ? breaker.state : "closed";
}

module.exports = { createClient };
