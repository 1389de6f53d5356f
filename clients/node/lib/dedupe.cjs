"use strict";

// In-flight de-duplication: callers asking for the same thing while a
// request for it is on its way share that request instead of sending their
// own.

/**
 * Creates a table of shared requests in flight.
 * `share(key, start, signal)` returns the result of the request for `key`:
 * the one in flight (adding one to `counters.deduped`), or a new one from
 * `start()`, which is forgotten once it settles. `signal` stops only this
 * caller's wait (rejecting with its reason); the request goes on for the
 * others, so `start` must not tie it to any caller's signal.
 * `size` is the number of requests in flight.
 */
function createInflight(counters) {
  const inflight = new Map();
  return {
    get size() {
      return inflight.size;
    },
    share(key, start, signal) {
      let shared = inflight.get(key);
      if (shared) {
        counters.deduped += 1;
      } else {
        shared = start();
        inflight.set(key, shared);
        const forget = () => inflight.delete(key);
        shared.then(forget, forget);
      }
      return raceSignal(shared, signal);
    },
  };
}

/** `promise`, or a rejection with the abort reason once `signal` aborts. */
function raceSignal(promise, signal) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      // This caller no longer waits for `promise`: should it fail, that
      // must not become an unhandled rejection.
      promise.catch(() => {});
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

module.exports = { createInflight };
