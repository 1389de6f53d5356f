"use strict";

// The options of createClient: their defaults and their validation. A bad
// option is a programming error, so it throws a TypeError at once instead of
// turning into a fallback later.

const { createBreaker } = require("./breaker.cjs");

const DEFAULT_URL = "http://127.0.0.1:3000";
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RETRIES = 2;
const DEFAULT_RETRY_DELAY_MS = 50;
const DEFAULT_MAX_RETRY_DELAY_MS = 1000;

/**
 * Validates the options of createClient and fills in the defaults. Returns
 * {url, app, timeoutMs, retries, retryDelayMs, maxRetryDelayMs, headers,
 * fallback, onError, dedupe, breaker, fetch, dispatcher}, where `breaker` is
 * the client's circuit breaker or null. Throws a TypeError for the first bad
 * option.
 */
function readOptions(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError("createClient: options must be an object");
  }
  const settings = {
    url: normalizeUrl(options.url ?? DEFAULT_URL),
    // The service's app whose bundle renders (null: the service's default).
    app: appName(options.app),
    timeoutMs: positiveNumber(options.timeoutMs, DEFAULT_TIMEOUT_MS, "timeoutMs"),
    retries: nonNegativeInt(options.retries, DEFAULT_RETRIES, "retries"),
    retryDelayMs: nonNegativeInt(options.retryDelayMs, DEFAULT_RETRY_DELAY_MS, "retryDelayMs"),
    maxRetryDelayMs: nonNegativeInt(options.maxRetryDelayMs, DEFAULT_MAX_RETRY_DELAY_MS, "maxRetryDelayMs"),
    // A copy: changing the caller's object later must not change the client.
    headers: { ...(options.headers ?? {}) },
    fallback: options.fallback !== false,
    onError: options.onError,
    dedupe: Boolean(options.dedupe),
    breaker: options.circuitBreaker
      ? createBreaker(options.circuitBreaker === true ? {} : options.circuitBreaker)
      : null,
    fetch: options.fetch ?? globalThis.fetch,
    dispatcher: options.dispatcher,
  };
  if (typeof settings.fetch !== "function") {
    throw new TypeError("createClient: no fetch available (Node.js >= 18 has one built in)");
  }
  if (settings.onError !== undefined && typeof settings.onError !== "function") {
    throw new TypeError("createClient: onError must be a function");
  }
  return settings;
}

/** An app name as the service accepts it, or null when not given. */
function appName(app) {
  if (app === undefined || app === null) return null;
  if (typeof app !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(app)) {
    throw new TypeError(`createClient: app must be 1 to 64 letters, digits, '-' or '_' (got ${JSON.stringify(app)})`);
  }
  return app;
}

/** The base URL without trailing slashes; throws unless it is http(s). */
function normalizeUrl(url) {
  const text = String(url);
  let parsed;
  try {
    parsed = new URL(text);
  } catch {
    throw new TypeError(`createClient: invalid url ${JSON.stringify(text)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`createClient: url must be http(s) (got ${parsed.protocol})`);
  }
  return text.replace(/\/+$/, "");
}

/** `value`, or `fallback` when undefined; throws unless a finite number > 0. */
function positiveNumber(value, fallback, name) {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive number (got ${value})`);
  }
  return value;
}

/** `value`, or `fallback` when undefined; throws unless an integer >= 0. */
function nonNegativeInt(value, fallback, name) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer (got ${value})`);
  }
  return value;
}

module.exports = { readOptions, positiveNumber };
