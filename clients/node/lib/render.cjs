"use strict";

// client.render: one component through POST /render, with de-duplication,
// retries, the circuit breaker and the fallback placeholder.

const { propsToJson, wrapHtml, createId } = require("./markup.cjs");
const { positiveNumber } = require("./options.cjs");
const { httpError } = require("./responses.cjs");
const { callContext } = require("./transport.cjs");

/**
 * Creates client.render from the parts of a client (see client.cjs):
 * `render(component, props?, options?)` resolves with the hydration markup,
 * or a placeholder when the service fails and fallback is on. It rejects
 * with a TypeError for bad arguments, with the abort reason when
 * `options.signal` aborts, and with the SsrError when fallback is off.
 */
function createRender({ settings, counters, exchange, serve, inflight, recover }) {
  async function render(component, props, options = {}) {
    const { propsJson, id, fallback } = renderArguments("render", settings, component, props, options);
    counters.renders += 1;
    try {
      const html = await requestHtml(component, propsJson, options);
      counters.ssr += 1;
      return options.wrap === false ? html : wrapHtml({ component, id, html, propsJson });
    } catch (error) {
      return recover(error, [{ component, id, propsJson }], fallback)[0];
    }
  }

  // With dedupe on, identical renders (same component, same props JSON)
  // share one request. It runs without any caller's signal: one caller
  // giving up must not fail the others.
  function requestHtml(component, propsJson, options) {
    if (!settings.dedupe) return renderRemote(component, propsJson, options);
    const start = () => renderRemote(component, propsJson, { ...options, signal: undefined });
    return inflight.share(`${component}\u0000${propsJson}`, start, options.signal);
  }

  // POST /render, retried and guarded: resolves with the server HTML.
  function renderRemote(component, propsJson, options) {
    return postRender({ settings, serve }, exchange, component, propsJson, options).then(
      (response) => response.text,
    );
  }

  return render;
}

// The deadline the service is asked to keep, in whole milliseconds: the
// caller's `requested` one, or else a little before the client gives up (at
// most 100 ms before), so a slow render comes back as the service's 504
// instead of a dropped connection. Computed per attempt: a retry has less
// time left.
// POST /render, retried and guarded by `serve`, with the call's deadline
// passed on to the service. `send` reads the answer (`exchange` whole, or to
// its first byte); resolves with a 200 response, else rejects with the
// service's error.
function postRender({ settings, serve }, send, component, propsJson, options) {
  const call = callContext(component, options, settings.timeoutMs);
  const serverTimeoutMs =
    options.serverTimeoutMs === undefined
      ? undefined
      : positiveNumber(options.serverTimeoutMs, undefined, "serverTimeoutMs");
  return serve(call, async () => {
    const timeoutMs = serviceTimeoutMs(serverTimeoutMs, call.deadline);
    const app = settings.app === null ? "" : `,"app":${JSON.stringify(settings.app)}`;
    const body = `{"component":${JSON.stringify(component)},"props":${propsJson},"timeoutMs":${timeoutMs}${app}}`;
    const response = await send({ method: "POST", path: "/render", body, accept: "text/html" }, call);
    if (response.status === 200) return response;
    throw httpError(component, response, call.timeoutMs);
  });
}

function serviceTimeoutMs(requested, deadline) {
  const remaining = deadline - Date.now();
  return Math.ceil(requested ?? Math.max(1, remaining - Math.min(100, remaining / 10)));
}

/**
 * The checked arguments of a render call (`what` names it in errors): the
 * props as JSON, the placeholder id and whether to fall back.
 */
function renderArguments(what, settings, component, props, options) {
  if (typeof component !== "string" || component === "") {
    throw new TypeError(`${what}: component must be a non-empty string`);
  }
  const propsJson = options.propsJson ?? propsToJson(props);
  if (typeof propsJson !== "string") throw new TypeError(`${what}: propsJson must be a string`);
  return {
    propsJson,
    id: options.id ?? createId(),
    fallback: options.fallback ?? settings.fallback,
  };
}

module.exports = { createRender, postRender, renderArguments };
