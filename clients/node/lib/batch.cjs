"use strict";

// client.renderBatch: several components with one POST /batch, in the
// Hypernova protocol (the jobs keyed by a token, each `{name, data}`; the
// answer holds one result per token).

const { SsrHttpError } = require("./errors.cjs");
const { propsToJson, wrapHtml, createId } = require("./markup.cjs");
const { httpError, parseJson } = require("./responses.cjs");
const { callContext } = require("./transport.cjs");

/**
 * Creates client.renderBatch from the parts of a client (see client.cjs):
 * `renderBatch(jobs, options?)` resolves with one result per job, in job
 * order ({component, id, ok, fallback, html, error, statusCode, durationMs}).
 * A job the service could not render fails on its own: a placeholder, or
 * html null with fallback off. The call rejects only when the request as a
 * whole failed and fallback is off, when `options.signal` aborts, or with a
 * TypeError for bad jobs.
 */
function createRenderBatch({ settings, counters, exchange, serve, recover, recoverJob }) {
  async function renderBatch(jobs, options = {}) {
    const entries = batchEntries(jobs);
    if (entries.length === 0) return [];
    const fallback = options.fallback ?? settings.fallback;
    const wrap = options.wrap !== false;
    counters.renders += entries.length;
    const call = callContext(`batch of ${entries.length}`, options, settings.timeoutMs);
    const body = batchBody(entries);
    let answer;
    try {
      answer = await serve(call, () => requestBatch(body, call));
    } catch (error) {
      const placeholders = recover(error, entries, fallback);
      return entries.map((entry, index) =>
        batchResult(entry, {
          ok: false,
          fallback: true,
          html: placeholders[index],
          error,
          statusCode: error.status,
          durationMs: undefined,
        }),
      );
    }
    return entries.map((entry) => jobResult(entry, answer.results[entry.token], { fallback, wrap }));
  }

  // One attempt at POST /batch: resolves with an answer that has `results`.
  async function requestBatch(body, call) {
    const path = settings.app === null ? "/batch" : `/apps/${settings.app}/batch`;
    const response = await exchange({ method: "POST", path, body, accept: "application/json" }, call);
    if (response.status !== 200) throw httpError(call.component, response, call.timeoutMs);
    const parsed = parseJson(response.text);
    if (!parsed || typeof parsed.results !== "object" || parsed.results === null) {
      throw new SsrHttpError(`SSR ${call.component}: the service answered with an unexpected body`, {
        component: call.component,
        status: response.status,
        code: "invalid_response",
        body: response.text,
      });
    }
    return parsed;
  }

  // The outcome of one job, from its `result` in the answer (missing from a
  // broken answer).
  function jobResult(entry, result, { fallback, wrap }) {
    if (result && result.success === true && typeof result.html === "string") {
      counters.ssr += 1;
      const { component, id, propsJson } = entry;
      return batchResult(entry, {
        ok: true,
        fallback: false,
        html: wrap ? wrapHtml({ component, id, html: result.html, propsJson }) : result.html,
        error: undefined,
        statusCode: result.statusCode ?? 200,
        durationMs: result.duration,
      });
    }
    const error = jobError(entry.component, result);
    const html = recoverJob(error, entry, fallback);
    return batchResult(entry, { ok: false, fallback, html, error, statusCode: error.status, durationMs: result?.duration });
  }

  return renderBatch;
}

/**
 * The jobs as {token, component, propsJson, id}, the token being the job's
 * index. Throws a TypeError for anything that is not a list of jobs with a
 * component name (`component`, or Hypernova's `name`) and serializable props
 * (`props`, `data`, or `propsJson` as is).
 */
function batchEntries(jobs) {
  if (!Array.isArray(jobs)) throw new TypeError("renderBatch: jobs must be an array");
  return jobs.map((job, index) => {
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
}

// The request body, written as text so the props JSON goes out as it is.
function batchBody(entries) {
  const jobs = entries.map(
    (e) => `${JSON.stringify(e.token)}:{"name":${JSON.stringify(e.component)},"data":${e.propsJson}}`,
  );
  return `{${jobs.join(",")}}`;
}

function batchResult(entry, outcome) {
  return { component: entry.component, id: entry.id, ...outcome };
}

// The error of a failed Hypernova job (`result` may be missing from a
// broken answer).
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

module.exports = { createRenderBatch };
