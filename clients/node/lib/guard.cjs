"use strict";

// Service calls pass through the circuit breaker (breaker.cjs): an open
// circuit skips the service, and each call's outcome tells the breaker
// whether the service works.

const { SsrCircuitOpenError, SsrHttpError, SsrNetworkError, SsrTimeoutError } = require("./errors.cjs");

/**
 * Creates `guarded(call, run)`, which runs `run()` for the call `call`
 * ({component, signal}) when `breaker` lets a request through, and rejects
 * with SsrCircuitOpenError (adding one to `counters.circuitSkipped`) when it
 * does not. With no breaker (null) it just runs `run()`.
 */
function createGuard(breaker, counters) {
  return async function guarded({ component, signal }, run) {
    if (breaker && !breaker.enter()) {
      counters.circuitSkipped += 1;
      throw circuitOpen(breaker, component);
    }
    try {
      const result = await run();
      breaker?.success();
      return result;
    } catch (error) {
      if (breaker) {
        if (signal?.aborted && error === signal.reason) breaker.release();
        else if (isServiceFailure(error)) breaker.failure();
        else breaker.success();
      }
      throw error;
    }
  };
}

function circuitOpen(breaker, component) {
  const retryInMs = breaker.retryInMs();
  return new SsrCircuitOpenError(
    `SSR service skipped${component ? ` for "${component}"` : ""}: circuit breaker is ${breaker.state}` +
      (retryInMs > 0 ? ` (next probe in ${retryInMs} ms)` : " (a probe is in flight)"),
    { component, retryInMs },
  );
}

// What counts against the circuit breaker: the service unreachable, slow or
// overloaded. A component's own failure (4xx, 500) means the service works.
function isServiceFailure(error) {
  if (error instanceof SsrNetworkError || error instanceof SsrTimeoutError) return true;
  return error instanceof SsrHttpError && typeof error.status === "number" && error.status > 500;
}

module.exports = { createGuard };
