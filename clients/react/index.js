// Server side: register React components with the SSR service's runtime.
// Import this from the server bundle's entry (built as a classic script with
// `react-dom/server` aliased to `react-dom/server.edge`).

import { createElement } from "react";
import { renderToString } from "react-dom/server";

/**
 * Registers `Component` under `name`: the service renders it with
 * `renderToString(createElement(Component, props))`. Returns `Component`.
 */
export function registerComponent(name, Component) {
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
  runtime.register(name, (props) => renderToString(createElement(Component, props)));
  return Component;
}

/** Registers every entry of `{Name: Component}`. */
export function registerComponents(components) {
  for (const [name, Component] of Object.entries(components)) {
    registerComponent(name, Component);
  }
}
