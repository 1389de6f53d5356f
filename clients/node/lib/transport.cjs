"use strict";

// One HTTP request to the service, bounded by the deadline of the call it
// belongs to. Everything above this (retries, the breaker, fallback) sees
// only an answer or an SsrError.

const { SsrNetworkError, SsrTimeoutError } = require("./errors.cjs");
const { positiveNumber } = require("./options.cjs");

/**
 * The deadline and cancellation shared by every request of one public call
 * (a render, a batch, a health check), retries included:
 * {component, timeoutMs, deadline, signal, headers}. `options.timeoutMs`
 * (default `defaultTimeoutMs`) must be a positive number. `component` names
 * the call in error messages: a component, "batch of N", or undefined.
 */
function callContext(component, options, defaultTimeoutMs) {
  const timeoutMs = positiveNumber(options.timeoutMs, defaultTimeoutMs, "timeoutMs");
  return {
    component,
    timeoutMs,
    deadline: Date.now() + timeoutMs,
    signal: options.signal,
    headers: options.headers,
  };
}

/**
 * Creates `exchange(request, call)`, which sends one request
 * ({method, path, body?, accept}) for the call `call` (see callContext) to
 * the service at `settings.url`, with the client's headers, fetch and
 * dispatcher. It resolves with {status, headers, text} for any HTTP answer
 * and rejects with SsrTimeoutError when the deadline passes, SsrNetworkError
 * when the service cannot be reached, or the caller's abort reason when
 * `call.signal` aborts. Every request sent adds one to `counters.requests`.
 * `exchange.open(request, call)` sends one whose answer is read as it
 * arrives (client.renderStream).
 */
function createTransport(settings, counters) {
  // A local, so fetch is called as a plain function, as the global one is.
  const { url: baseUrl, fetch: fetchImpl } = settings;

  /**
   * Bounds one request by the call's deadline and signal: `controller`
   * aborts the fetch, `failure(error)` names what a failed fetch means,
   * `release()` stops bounding it. Throws at once when the call is already
   * aborted or out of time; counts the request.
   */
  function bound(call) {
    const { component, deadline, timeoutMs, signal } = call;
    if (signal?.aborted) throw signal.reason;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw clientTimeout(component, timeoutMs);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, remaining);
    const onAbort = () => controller.abort(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    counters.requests += 1;
    return {
      controller,
      failure(error) {
        if (timedOut) return clientTimeout(component, timeoutMs, error);
        if (signal?.aborted) return signal.reason;
        return unreachable(baseUrl, component, error);
      },
      release() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      },
    };
  }

  async function exchange(request, call) {
    const bounds = bound(call);
    try {
      return await send(request, call.headers, bounds.controller.signal);
    } catch (error) {
      throw bounds.failure(error);
    } finally {
      bounds.release();
    }
  }

  /**
   * Like exchange, for an answer read as it arrives. A 200 with a body
   * resolves once its first chunk came, with {status, headers, first,
   * reader, failure, close}: `first` is that chunk (undefined when the body
   * was empty), `reader` reads the rest, `failure(error)` turns a failed
   * read into the error exchange would have thrown (`failure(error, true)`
   * after the first byte: an SsrNetworkError saying the answer broke off), and `close(reason?)`
   * releases the request (aborting it when it has not ended). The deadline
   * and `call.signal` keep bounding the request until `close`. Any other
   * answer resolves, read whole, as exchange's {status, headers, text}.
   */
  async function open(request, call) {
    const { component } = call;
    const bounds = bound(call);
    const { controller } = bounds;
    let closed = false;
    const close = (reason) => {
      if (closed) return;
      closed = true;
      bounds.release();
      if (reason !== undefined) controller.abort(reason);
    };
    const failure = (error, midStream = false) => {
      const known = bounds.failure(error);
      if (!midStream || !(known instanceof SsrNetworkError) || call.signal?.aborted) return known;
      return new SsrNetworkError(
        `SSR answer${component ? ` for "${component}"` : ""} broke off after its first byte: ${describeCause(error)}`,
        { component, cause: error },
      );
    };
    try {
      const response = await fetchImpl(baseUrl + request.path, requestInit(request, call.headers, controller.signal));
      if (response.status !== 200 || response.body === null) {
        const text = await response.text();
        close();
        return { status: response.status, headers: response.headers, text };
      }
      const reader = response.body.getReader();
      const first = await reader.read();
      if (first.done) close();
      return { status: response.status, headers: response.headers, first: first.value, reader, failure, close };
    } catch (error) {
      close();
      throw failure(error);
    }
  }

  // The fetch options of a request; `headers` are the call's own, added last.
  function requestInit({ method, body, accept }, headers, signal) {
    const init = {
      method,
      headers: {
        accept,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...settings.headers,
        ...(headers ?? {}),
      },
      body,
      signal,
    };
    if (settings.dispatcher !== undefined) init.dispatcher = settings.dispatcher;
    return init;
  }

  // The fetch itself.
  async function send(request, headers, signal) {
    const response = await fetchImpl(baseUrl + request.path, requestInit(request, headers, signal));
    // Always read the body: an unread body keeps the connection from
    // going back to the keep-alive pool.
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  }

  exchange.open = open;
  return exchange;
}

function clientTimeout(component, timeoutMs, cause) {
  return new SsrTimeoutError(
    `SSR service did not answer${component ? ` for "${component}"` : ""} within ${timeoutMs} ms`,
    { component, timeoutMs, cause },
  );
}

function unreachable(baseUrl, component, error) {
  return new SsrNetworkError(
    `cannot reach the SSR service at ${baseUrl}${component ? ` to render "${component}"` : ""}: ${describeCause(error)}`,
    { component, cause: error },
  );
}

// fetch reports a failed connection as "fetch failed" and puts what
// happened (ECONNREFUSED, ...) in its cause.
function describeCause(error) {
  const cause = error?.cause;
  if (cause && typeof cause === "object") {
    if (cause.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
    if (cause.message) return cause.message;
  }
  return error?.message ?? String(error);
}

module.exports = { callContext, createTransport };
