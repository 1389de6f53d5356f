"use strict";

// What a failed render turns into. The error is counted and passed to the
// onError hook; then it is thrown or, with fallback on, the render becomes an
// empty placeholder that the browser renders itself (see markup.cjs).

const { SsrError } = require("./errors.cjs");
const { placeholderHtml } = require("./markup.cjs");

/**
 * Creates the failure handling of a client whose hook is `settings.onError`.
 * A render here is {component, id, propsJson}.
 *
 * - `recover(error, renders, fallback)`: `renders` failed together (one
 *   render call, or a whole batch request). Returns a placeholder for each;
 *   rethrows `error` when it is not an SsrError, or, after reporting it,
 *   with fallback off.
 * - `recoverJob(error, render, fallback)`: one job of a batch failed while
 *   the others may not have. Reports it and returns its placeholder, or
 *   null with fallback off; never throws.
 * - `report(error, render, fallback)`: counts a failure and passes it to
 *   onError (a stream that failed after its first byte); never throws.
 */
function createFallback({ onError }, counters) {
  function recover(error, renders, fallback) {
    // Programming errors and the caller's own abort are not failures of
    // the service: no fallback for them.
    if (!(error instanceof SsrError)) throw error;
    for (const render of renders) report(error, render, fallback);
    if (!fallback) throw error;
    counters.fallbacks += renders.length;
    return renders.map((render) => placeholder(render, error));
  }

  function recoverJob(error, render, fallback) {
    report(error, render, fallback);
    if (!fallback) return null;
    counters.fallbacks += 1;
    return placeholder(render, error);
  }

  function report(error, { component, id }, fallback) {
    counters.errors += 1;
    if (!onError) return;
    try {
      const result = onError(error, { component, id, fallback });
      // A hook may be async; its rejection is as harmless as a throw.
      if (result && typeof result.catch === "function") result.catch(() => {});
    } catch {
      // The hook must not turn a fallback into a failed page.
    }
  }

  return { recover, recoverJob, report };
}

function placeholder({ component, id, propsJson }, error) {
  return placeholderHtml({ component, id, propsJson, reason: error.code });
}

module.exports = { createFallback };
