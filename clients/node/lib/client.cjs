"use strict";

const {
  SsrError,
  SsrHttpError,
  SsrTimeoutError,
  SsrNetworkError,
  SsrCircuitOpenError,
} = require("./errors.cjs");
const { propsToJson, wrapHtml, placeholderHtml, createId } = require("./markup.cjs");
const { readOptions, positiveNumber } = require("./options.cjs");
const { httpError, parseJson } = require("./responses.cjs");
const { callContext, createTransport } = require("./transport.cjs");
const { createRetrier } = require("./retry.cjs");
const { createGuard } = require("./guard.cjs");
const { createInflight } = require("./dedupe.cjs");

/**
 * Creates a client for the SSR render service.
 * See index.d.ts for the options and README.md for examples.
 */
function createClient(options = {}) {
  const settings = readOptions(options);
  const baseUrl = settings.url;
  const defaultTimeoutMs = settings.timeoutMs;
  const { onError, dedupe, breaker } = settings;
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

  // POST /render (with retries and the breaker): resolves with the HTML.
  function renderRemote(component, propsJson, options) {
    const call = callContext(component, options, defaultTimeoutMs);
    const serverTimeoutMs =
      options.serverTimeoutMs === undefined
        ? undefined
        : positiveNumber(options.serverTimeoutMs, undefined, "serverTimeoutMs");
    const attempt = async () => {
      const remaining = call.deadline - Date.now();
      // Ask the service to give up a little before the client does, so a
      // slow render comes back as the service's 504 instead of a dropped
      // connection.
      const serviceDeadline = Math.ceil(
        serverTimeoutMs ?? Math.max(1, remaining - Math.min(100, remaining / 10)),
      );
      const body = `{"component":${JSON.stringify(component)},"props":${propsJson},"timeoutMs":${serviceDeadline}}`;
      const response = await exchange({ method: "POST", path: "/render", body, accept: "text/html" }, call);
      if (response.status === 200) return response.text;
      throw httpError(component, response, call.timeoutMs);
    };
    return guarded(call, () => withRetries(attempt, call));
  }

  // renderRemote with in-flight de-duplication: identical renders (same
  // component, same props JSON) share one request. A caller's signal only
  // stops that caller's wait, not the shared request.
  function renderShared(component, propsJson, options) {
    if (!dedupe) return renderRemote(component, propsJson, options);
    const start = () => renderRemote(component, propsJson, { ...options, signal: undefined });
    return inflight.share(`${component}\u0000${propsJson}`, start, options.signal);
  }

  function report(error, info) {
    counters.errors += 1;
    if (!onError) return;
    try {
      const result = onError(error, info);
      if (result && typeof result.catch === "function") result.catch(() => {});
    } catch {
      // The hook must not turn a fallback into a failed page.
    }
  }

  async function render(component, props, options = {}) {
    if (typeof component !== "string" || component === "") {
      throw new TypeError("render: component must be a non-empty string");
    }
    const propsJson = options.propsJson ?? propsToJson(props);
    if (typeof propsJson !== "string") throw new TypeError("render: propsJson must be a string");
    const id = options.id ?? createId();
    const fallback = options.fallback ?? fallbackByDefault;
    counters.renders += 1;
    try {
      const html = await renderShared(component, propsJson, options);
      counters.ssr += 1;
      return options.wrap === false ? html : wrapHtml({ component, id, html, propsJson });
    } catch (error) {
      // Programming errors and the caller's own abort are not failures of
      // the service: no fallback for them.
      if (!(error instanceof SsrError)) throw error;
      report(error, { component, id, fallback });
      if (!fallback) throw error;
      counters.fallbacks += 1;
      return placeholderHtml({ component, id, propsJson, reason: error.code });
    }
  }

  async function renderBatch(jobs, options = {}) {
    if (!Array.isArray(jobs)) throw new TypeError("renderBatch: jobs must be an array");
    const entries = jobs.map((job, index) => {
      if (job === null || typeof job !== "object") {
        throw new TypeError(`renderBatch: job ${index} must be an object`);
      }
      const component = job.component ?? job.name;
      if (typeof component !== "string" || component === "") {
        throw new TypeError(`renderBatch: job ${index} needs a component name`);
      }
      const propsJson = job.propsJson ?? propsToJson(job.props ?? job.data);
      return { token: String(index), component, propsJson, id: job.id ?? createId() };
    });
    if (entries.length === 0) return [];
    const fallback = options.fallback ?? fallbackByDefault;
    const wrap = options.wrap !== false;
    counters.renders += entries.length;

    const label = `batch of ${entries.length}`;
    const call = callContext(label, options, defaultTimeoutMs);
    const body = `{${entries
      .map((e) => `${JSON.stringify(e.token)}:{"name":${JSON.stringify(e.component)},"data":${e.propsJson}}`)
      .join(",")}}`;
    const attempt = async () => {
      const response = await exchange({ method: "POST", path: "/batch", body, accept: "application/json" }, call);
      if (response.status !== 200) throw httpError(label, response, call.timeoutMs);
      const parsed = parseJson(response.text);
      if (!parsed || typeof parsed.results !== "object" || parsed.results === null) {
        throw new SsrHttpError(`SSR ${label}: the service answered with an unexpected body`, {
          component: label,
          status: response.status,
          code: "invalid_response",
          body: response.text,
        });
      }
      return parsed;
    };

    let response;
    try {
      response = await guarded(call, () => withRetries(attempt, call));
    } catch (error) {
      if (!(error instanceof SsrError)) throw error;
      for (const e of entries) report(error, { component: e.component, id: e.id, fallback });
      if (!fallback) throw error;
      counters.fallbacks += entries.length;
      return entries.map((e) => ({
        component: e.component,
        id: e.id,
        ok: false,
        fallback: true,
        html: placeholderHtml({ component: e.component, id: e.id, propsJson: e.propsJson, reason: error.code }),
        error,
        statusCode: error.status,
        durationMs: undefined,
      }));
    }

    return entries.map((e) => {
      const result = response.results[e.token];
      if (result && result.success === true && typeof result.html === "string") {
        counters.ssr += 1;
        return {
          component: e.component,
          id: e.id,
          ok: true,
          fallback: false,
          html: wrap ? wrapHtml({ component: e.component, id: e.id, html: result.html, propsJson: e.propsJson }) : result.html,
          error: undefined,
          statusCode: result.statusCode ?? 200,
          durationMs: result.duration,
        };
      }
      const error = jobError(e.component, result);
      report(error, { component: e.component, id: e.id, fallback });
      if (fallback) counters.fallbacks += 1;
      return {
        component: e.component,
        id: e.id,
        ok: false,
        fallback,
        html: fallback
          ? placeholderHtml({ component: e.component, id: e.id, propsJson: e.propsJson, reason: error.code })
          : null,
        error,
        statusCode: error.status,
        durationMs: result?.duration,
      };
    });
  }

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

// A failed Hypernova job (`result` may be missing from a broken answer).
function jobError(component, result) {
  if (!result || typeof result !== "object") {
    return new SsrHttpError(`SSR render of "${component}" failed: no result in the batch answer`, {
      component,
      status: undefined,
      code: "invalid_response",
      body: result,
    });
  }
  const status = typeof result.statusCode === "number" ? result.statusCode : 500;
  const err = result.error && typeof result.error === "object" ? result.error : {};
  let code;
  if (status === 404) code = "unknown_component";
  else if (err.type === undefined) code = "render_error";
  else code = "job_failed";
  const message = typeof err.message === "string" ? err.message : "render failed";
  return new SsrHttpError(`SSR render of "${component}" failed: ${status} ${code}: ${message}`, {
    component,
    status,
    code,
    body: result,
  });
}

module.exports = { createClient };
