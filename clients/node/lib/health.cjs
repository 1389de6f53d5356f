"use strict";

// client.ready and client.health: GET /ready and GET /health, one request
// each, without retries or the circuit breaker (a probe should see the
// service as it is).

const { SsrError, SsrHttpError } = require("./errors.cjs");
const { parseJson } = require("./responses.cjs");
const { callContext } = require("./transport.cjs");

/**
 * Creates client.ready and client.health from the parts of a client (see
 * client.cjs). Both take {timeoutMs, signal, headers} and reject with a
 * TypeError for a bad timeoutMs and with the abort reason when `signal`
 * aborts.
 */
function createHealthChecks({ settings, exchange }) {
  // Resolves with the status and the JSON body (undefined when not JSON)
  // of any answer.
  async function getJson(path, options = {}) {
    const call = callContext(undefined, options, settings.timeoutMs);
    const response = await exchange({ method: "GET", path, accept: "application/json" }, call);
    return { status: response.status, body: parseJson(response.text) };
  }

  /** True when GET /ready answers 200; false for any other answer or an unreachable service. */
  async function ready(options) {
    try {
      return (await getJson("/ready", options)).status === 200;
    } catch (error) {
      if (error instanceof SsrError) return false;
      throw error;
    }
  }

  /** The JSON of GET /health; an SsrError when it is not 200 or the service cannot be reached. */
  async function health(options) {
    const { status, body } = await getJson("/health", options);
    if (status !== 200) {
      throw new SsrHttpError(`SSR service health check answered ${status}`, { status, code: `http_${status}`, body });
    }
    return body;
  }

  return { ready, health };
}

module.exports = { createHealthChecks };
