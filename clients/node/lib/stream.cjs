"use strict";

// client.renderStream: one component through POST /render, read as the
// service streams it. Before the first byte it fails as render does
// (retries, the circuit breaker, the fallback placeholder); after it, a
// failure errors the stream.

const { wrapParts } = require("./markup.cjs");
const { postRender, renderArguments } = require("./render.cjs");

const encoder = new TextEncoder();

/**
 * Creates client.renderStream from the parts of a client (see client.cjs):
 * `renderStream(component, props?, options?)` resolves, once the first byte
 * of the answer came, with {stream, status, headers, id, fallback, error}:
 * `stream` a ReadableStream of UTF-8 bytes (the hydration markup around the
 * server HTML, or the bare HTML with `wrap: false`). When the service fails
 * before the first byte and fallback is on, `stream` holds the placeholder,
 * `fallback` is true, `error` the SsrError and `status` undefined. It
 * rejects as render does: a TypeError for bad arguments, the abort reason
 * when `options.signal` aborts before the first byte, the SsrError when
 * fallback is off. After the first byte, the stream errors with an SsrError
 * (reported to onError) or the abort reason; cancelling it aborts the
 * request.
 */
function createRenderStream({ settings, counters, exchange, serve, recover, report }) {
  async function renderStream(component, props, options = {}) {
    const { propsJson, id, fallback } = renderArguments("renderStream", settings, component, props, options);
    const render = { component, id, propsJson };
    counters.renders += 1;
    let opened;
    try {
      opened = await openRemote(component, propsJson, options);
    } catch (error) {
      const html = recover(error, [render], fallback)[0];
      return { stream: streamOf(html), status: undefined, headers: new Headers(), id, fallback: true, error };
    }
    counters.ssr += 1;
    const { open, close } = options.wrap === false ? { open: "", close: "" } : wrapParts(render);
    const stream = bodyStream(opened, {
      prefix: open,
      suffix: close,
      onFailure: (error) => {
        if (!(options.signal?.aborted && error === options.signal.reason)) report(error, render, false);
      },
    });
    return { stream, status: opened.status, headers: opened.headers, id, fallback: false, error: undefined };
  }

  // POST /render, retried and guarded until its first byte: resolves with
  // what exchange.open resolves with for a 200.
  function openRemote(component, propsJson, options) {
    const open = (request, call) => exchange.open(request, call);
    return postRender({ settings, serve }, open, component, propsJson, options);
  }

  return renderStream;
}

// The answer's bytes as a stream pulled by its reader: `prefix`, the first
// chunk, each further chunk as it arrives, and `suffix` only when the answer
// ended cleanly. A failed read errors the stream (after `onFailure`).
function bodyStream({ first, reader, failure, close }, { prefix, suffix, onFailure }) {
  return new ReadableStream(
    {
      start(controller) {
        if (prefix) controller.enqueue(encoder.encode(prefix));
        if (first !== undefined) controller.enqueue(first);
        if (reader === undefined || first === undefined) {
          if (suffix) controller.enqueue(encoder.encode(suffix));
          controller.close();
        }
      },
      async pull(controller) {
        let next;
        try {
          next = await reader.read();
        } catch (cause) {
          close();
          const error = failure(cause, true);
          onFailure(error);
          controller.error(error);
          return;
        }
        if (next.done) {
          close();
          if (suffix) controller.enqueue(encoder.encode(suffix));
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      },
      cancel(reason) {
        close(reason ?? new Error("stream cancelled"));
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** A stream holding `text` only. */
function streamOf(text) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(text));
      controller.close();
    },
  });
}

module.exports = { createRenderStream };
