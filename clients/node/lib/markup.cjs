"use strict";

// The hydration markup shared by the client (server side) and
// @ssr-pool/react (browser side):
//
//   <div data-ssr-component="Name" data-ssr-id="ID">SERVER HTML</div>
//   <script type="application/json" data-ssr-props-for="ID">PROPS JSON</script>
//
// A client-side-render placeholder (the fallback) has no server HTML and a
// `data-ssr-fallback` attribute whose value is the error code.

const { randomBytes } = require("node:crypto");

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for an HTML text node or a quoted attribute value. */
function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

const SCRIPT_ESCAPES = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * Makes JSON text safe inside a <script> element: `<`, `>`, `&`, U+2028 and
 * U+2029 become \uXXXX escapes, so neither `</script>` nor `<!--` can appear
 * and the text stays valid JSON (and valid JavaScript).
 */
function escapeJsonForScript(json) {
  return json.replace(/[<>&\u2028\u2029]/g, (ch) => SCRIPT_ESCAPES[ch]);
}

/** Props as the JSON text sent to the service (undefined counts as {}). */
function propsToJson(props) {
  if (props === undefined) return "{}";
  const json = JSON.stringify(props);
  if (json === undefined) {
    throw new TypeError(`props cannot be serialized as JSON (got ${typeof props})`);
  }
  return json;
}

/** `<props script>` for the placeholder with id `id`. */
function propsScript(id, propsJson) {
  return (
    `<script type="application/json" data-ssr-props-for="${escapeHtml(id)}">` +
    `${escapeJsonForScript(propsJson)}</script>`
  );
}

/** Server HTML wrapped for hydration, followed by the props script. */
function wrapHtml({ component, id, html, propsJson }) {
  const { open, close } = wrapParts({ component, id, propsJson });
  return open + html + close;
}

/** The markup of wrapHtml before and after the server HTML (for a stream). */
function wrapParts({ component, id, propsJson }) {
  return {
    open: `<div data-ssr-component="${escapeHtml(component)}" data-ssr-id="${escapeHtml(id)}">`,
    close: `</div>${propsScript(id, propsJson)}`,
  };
}

/** Empty placeholder the browser renders with createRoot. */
function placeholderHtml({ component, id, propsJson, reason = "error" }) {
  return (
    `<div data-ssr-component="${escapeHtml(component)}" data-ssr-id="${escapeHtml(id)}"` +
    ` data-ssr-fallback="${escapeHtml(reason)}"></div>${propsScript(id, propsJson)}`
  );
}

// Ids are unique within a process; the random prefix keeps fragments from
// different processes (or a cache) apart when they end up on one page.
const ID_PREFIX = `ssr-${randomBytes(3).toString("hex")}-`;
let idCounter = 0;

function createId() {
  idCounter += 1;
  return ID_PREFIX + idCounter.toString(36);
}

module.exports = {
  escapeHtml,
  escapeJsonForScript,
  propsToJson,
  wrapHtml,
  wrapParts,
  placeholderHtml,
  createId,
};
