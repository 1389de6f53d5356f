"use strict";

// A small circuit breaker:
//   closed    -> requests go to the service; `failureThreshold` consecutive
//                failures open the circuit;
//   open      -> requests skip the service for `cooldownMs`;
//   half-open -> after the cool-down one probe request goes through; success
//                closes the circuit, failure opens it for another cool-down.
// Concurrent calls during a probe skip the service.

function createBreaker(options = {}, now = Date.now) {
  const failureThreshold = positiveInt(options.failureThreshold, 5, "circuitBreaker.failureThreshold");
  const cooldownMs = positiveInt(options.cooldownMs, 10_000, "circuitBreaker.cooldownMs");
  const onStateChange = options.onStateChange;

  let state = "closed";
  let failures = 0;
  let openedAt = 0;
  let probing = false;

  function set(next) {
    if (next === state) return;
    state = next;
    if (typeof onStateChange === "function") {
      try {
        onStateChange(next);
      } catch {
        // A broken hook must not break rendering.
      }
    }
  }

  return {
    get state() {
      if (state === "open" && now() - openedAt >= cooldownMs) return "half-open";
      return state;
    },
    get failures() {
      return failures;
    },
    /** Milliseconds until the next probe may go out (0 when closed). */
    retryInMs() {
      return state === "open" ? Math.max(0, openedAt + cooldownMs - now()) : 0;
    },
    /** True when a request may go to the service now. */
    enter() {
      if (state === "closed") return true;
      if (state === "open") {
        if (now() - openedAt < cooldownMs) return false;
        set("half-open");
      }
      if (probing) return false;
      probing = true;
      return true;
    },
    /** The service answered (even with a component's own error). */
    success() {
      probing = false;
      failures = 0;
      set("closed");
    },
    /** The service failed (unreachable, timed out, overloaded). */
    failure() {
      probing = false;
      failures += 1;
      if (state === "half-open" || (state === "closed" && failures >= failureThreshold)) {
        openedAt = now();
        set("open");
      } else if (state === "open") {
        openedAt = now();
      }
    },
    /** The request was cancelled by its caller: no verdict. */
    release() {
      probing = false;
    },
  };
}

function positiveInt(value, fallback, name) {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number (got ${value})`);
  }
  return Math.ceil(value);
}

module.exports = { createBreaker };
