"use strict";

// Errors thrown by the client (and passed to `onError`). Every one extends
// SsrError and carries the component name and a short machine-readable code.

class SsrError extends Error {
  constructor(message, { component, code, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.component = component;
    this.code = code;
  }
}

// The service answered with an error status. `body` is its JSON error
// (`{error: {status, code, message, details?}}`) or, for a batch job, the
// job's Hypernova result.
class SsrHttpError extends SsrError {
  constructor(message, { component, status, code, body, retryAfterMs, cause } = {}) {
    super(message, { component, code, cause });
    this.status = status;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

// The render did not finish in time: either the client's deadline passed
// (`status` undefined) or the service gave up first and answered 504
// (`status` 504, `body` its JSON error).
class SsrTimeoutError extends SsrError {
  constructor(message, { component, timeoutMs, status, body, cause } = {}) {
    super(message, { component, code: "timeout", cause });
    this.timeoutMs = timeoutMs;
    this.status = status;
    this.body = body;
  }
}

// The service could not be reached (connection refused or reset, DNS, a
// closed keep-alive socket, ...). `cause` is the underlying error.
class SsrNetworkError extends SsrError {
  constructor(message, { component, cause } = {}) {
    super(message, { component, code: "network_error", cause });
  }
}

// The circuit breaker is open: the service was skipped without a request.
class SsrCircuitOpenError extends SsrError {
  constructor(message, { component, retryInMs } = {}) {
    super(message, { component, code: "circuit_open" });
    this.retryInMs = retryInMs;
  }
}

for (const cls of [SsrError, SsrHttpError, SsrTimeoutError, SsrNetworkError, SsrCircuitOpenError]) {
  Object.defineProperty(cls.prototype, "name", {
    value: cls.name,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

module.exports = { SsrError, SsrHttpError, SsrTimeoutError, SsrNetworkError, SsrCircuitOpenError };
