"use strict";

const { SsrError, SsrHttpError } = require("./errors.cjs");
const { propsToJson, wrapHtml, createId } = require("./markup.cjs");
const { readOptions } = require("./options.cjs");
const { httpError, parseJson } = require("./responses.cjs");
const { callContext, createTransport } = require("./transport.cjs");
const { createRetrier } = require("./retry.cjs");
const { createGuard } = require("./guard.cjs");
const { createInflight } = require("./dedupe.cjs");
const { createFallback } = require("./fallback.cjs");
const { createRender } = require("./render.cjs");

/**
 * Creates a client for the SSR render service.
 * See index.d.ts for the options and README.md for examples.
 */
function createClient(options = {}) {
  const settings = readOptions(options);
  const baseUrl = settings.url;
  const defaultTimeoutMs = settings.timeoutMs;
  const { breaker } = settings;
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
  // Every service call is retried as needed, inside the circuit breaker.
  const serve = (call, attempt) => guarded(call, () => withRetries(attempt, call));
  const { recover, recoverJob } = createFallback(settings, counters);
  const render = createRender({ settings, counters, exchange, serve, inflight, recover });

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
      const placeholders = recover(error, entries, fallback);
      return entries.map((e, index) => ({
        component: e.component,
        id: e.id,
        ok: false,
        fallback: true,
        html: placeholders[index],
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
      const html = recoverJob(error, e, fallback);
      return {
        component: e.component,
        id: e.id,
        ok: false,
        fallback,
        html,
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
