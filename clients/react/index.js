// Server side: register React components with the SSR service's runtime.
// Import this from the server bundle's entry (built as a classic script with
// `react-dom/server` aliased to `react-dom/server.edge`).

import { createElement } from "react";
// Both renderers come from `react-dom/server`, so the bundle's alias picks
// the entry; its browser and edge entries both export renderToReadableStream.
import { renderToReadableStream, renderToString } from "react-dom/server";

/**
 * Registers `Component` under `name`. By default the service renders it with
 * `renderToString(createElement(Component, props))`; with `{stream: true}`
 * it streams `renderToReadableStream(createElement(Component, props))`,
 * aborted by the render's signal. Returns `Component`.
 */
export function registerComponent(name, Component, { stream = false } = {}) {
  if (typeof name !== "string" || name === "") {
    throw new TypeError("registerComponent: name must be a non-empty string");
  }
  const isComponent =
    typeof Component === "function" || (typeof Component === "object" && Component !== null);
  if (!isComponent) {
    throw new TypeError(`registerComponent: "${name}" is not a React component`);
  }
  const runtime = globalThis.SsrPool;
  if (!runtime || typeof runtime.register !== "function") {
    throw new Error(
      "registerComponent: SsrPool.register is missing; this bundle must be loaded by the ssr-pool service",
    );
  }
  runtime.register(name, stream ? streamed(Component) : whole(Component));
  return Component;
}

/** Registers every entry of `{Name: Component}`, each with `options`. */
export function registerComponents(components, options) {
  for (const [name, Component] of Object.entries(components)) {
    registerComponent(name, Component, options);
  }
}

function whole(Component) {
  return (props) => renderToString(createElement(Component, props));
}

// The signal fires at the render's deadline or when the caller leaves; React
// then ends the stream with the fallbacks of the boundaries still waiting.
//
// React reports every boundary an abort leaves unfinished to `onError`,
// whose default logs it: at a deadline under load that is a log line per
// boundary for something the service already counts
// (`aborted_at_deadline`). Errors before the abort are still logged.
function streamed(Component) {
  return (props, context) => {
    const { signal } = context;
    const onError = (error) => {
      if (!signal.aborted) console.error(error);
    };
    return renderToReadableStream(createElement(Component, props), { signal, onError });
  };
}
