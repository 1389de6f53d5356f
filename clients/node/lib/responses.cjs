"use strict";

// Reading the service's answers: an error status becomes the matching
// SsrError, carrying the service's JSON error and its Retry-After.

const { SsrHttpError, SsrTimeoutError } = require("./errors.cjs");

/**
 * The error for an answer that is not a success. `response` is
 * {status, headers, text} as the transport returns it; `component` names
 * what was rendered (a component or "batch of N"). A 504 (the service gave up
 * at its deadline) is an SsrTimeoutError, every other status an SsrHttpError.
 */
function httpError(component, response, timeoutMs) {
  const { status, headers, text } = response;
  const body = parseJson(text);
  const { code, message } = errorDetail(body, status, text);
  const subject = component ? `"${component}"` : "request";
  if (status === 504) {
    return new SsrTimeoutError(`SSR service timed out rendering ${subject}: ${message}`, {
      component,
      timeoutMs,
      status,
      body: body ?? text,
    });
  }
  return new SsrHttpError(`SSR render of ${subject} failed: ${status} ${code}: ${message}`, {
    component,
    status,
    code,
    body: body ?? text,
    retryAfterMs: parseRetryAfter(headers.get("retry-after")),
  });
}

// The code and message of the service's JSON error
// (`{error: {code, message}}`); an answer without one (a proxy's error page,
// say) gets `http_<status>` and the start of its text.
function errorDetail(body, status, text) {
  const detail = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : undefined;
  return {
    code: typeof detail?.code === "string" ? detail.code : `http_${status}`,
    message: typeof detail?.message === "string" ? detail.message : text.slice(0, 200),
  };
}

/**
 * A Retry-After header in milliseconds: delay-seconds or an HTTP date (a past
 * date is 0). Undefined when absent or unreadable.
 */
function parseRetryAfter(value) {
  if (value === null || value === undefined || value === "") return undefined;
  const trimmed = String(value).trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - Date.now());
}

/** The JSON value of `text`, or undefined when it is not JSON. */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

module.exports = { httpError, parseJson };
