"use strict";

// Retrying a service call that failed in a way worth trying again: the
// service could not be reached, or it answered 503 (overloaded, or the render
// waited too long in its queue).

const { SsrHttpError, SsrNetworkError } = require("./errors.cjs");

/**
 * Creates `withRetries(attempt, call)`, which runs `attempt()` and, after a
 * retryable error, up to `settings.retries` more times. Between attempts it
 * waits the Retry-After the service asked for, or an exponential back-off
 * from `settings.retryDelayMs`, either capped at `settings.maxRetryDelayMs`.
 * It gives up with the last error when the wait would end past
 * `call.deadline`, and rejects with the abort reason when `call.signal`
 * aborts during a wait. Every retry adds one to `counters.retries`.
 */
function createRetrier(settings, counters) {
  const { retries, retryDelayMs, maxRetryDelayMs } = settings;
  return async function withRetries(attempt, { deadline, signal }) {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        if (n >= retries || !isRetryable(error)) throw error;
        const asked = error instanceof SsrHttpError ? error.retryAfterMs : undefined;
        const delay = Math.min(asked ?? retryDelayMs * 2 ** n, maxRetryDelayMs);
        if (Date.now() + delay >= deadline) throw error;
        counters.retries += 1;
        await sleep(delay, signal);
      }
    }
  };
}

// Other errors would fail again: a component's own error (4xx, 500), or a
// timeout, after which the call has no time left.
function isRetryable(error) {
  return error instanceof SsrNetworkError || (error instanceof SsrHttpError && error.status === 503);
}

/** Resolves after `ms`; rejects with the abort reason if `signal` aborts first. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

module.exports = { createRetrier };
