"use strict";

// Full HTML pages around a render, and the Express/Connect middleware that
// streams them (`res.renderSSR`).

const { createClient } = require("./client.cjs");
const { escapeHtml, propsToJson } = require("./markup.cjs");

const OUTLET = "<!--ssr-outlet-->";
const TITLE = "<!--ssr-title-->";
const HEAD = "<!--ssr-head-->";
const SCRIPTS = "<!--ssr-scripts-->";

const DEFAULT_TEMPLATE =
  `<!DOCTYPE html><html lang="<!--ssr-lang-->"><head><meta charset="utf-8">` +
  `<meta name="viewport" content="width=device-width, initial-scale=1">` +
  `<title>${TITLE}</title>${HEAD}${SCRIPTS}</head><body>${OUTLET}</body></html>`;

function scriptTags(scripts) {
  if (scripts === undefined || scripts === null) return "";
  const list = Array.isArray(scripts) ? scripts : [scripts];
  return list
    .map((entry) => {
      const { src, type } = typeof entry === "string" ? { src: entry } : entry;
      if (typeof src !== "string") throw new TypeError("scripts: each entry needs a src");
      const typeAttr = type ? ` type="${escapeHtml(type)}"` : " defer";
      return `<script src="${escapeHtml(src)}"${typeAttr}></script>`;
    })
    .join("");
}

/**
 * Splits the page into the part before the rendered markup and the part
 * after it. `template` is either
 *   - a string containing `<!--ssr-outlet-->` (where the markup goes) and
 *     optionally `<!--ssr-title-->`, `<!--ssr-head-->`, `<!--ssr-scripts-->`;
 *   - or a function `({title, head, scripts, lang, body}) => string` whose
 *     result contains `body` once (title is already HTML-escaped).
 */
function pageParts(options = {}) {
  const title = escapeHtml(options.title ?? "");
  const head = options.head ?? "";
  const scripts = scriptTags(options.scripts);
  const lang = escapeHtml(options.lang ?? "en");
  const template = options.template ?? DEFAULT_TEMPLATE;
  let page;
  let marker;
  if (typeof template === "function") {
    marker = `<!--ssr-body-${Math.random().toString(36).slice(2)}-->`;
    page = String(template({ title, head, scripts, lang, body: marker }));
  } else if (typeof template === "string") {
    marker = OUTLET;
    page = template
      .split(TITLE)
      .join(title)
      .split(HEAD)
      .join(head)
      .split(SCRIPTS)
      .join(scripts)
      .split("<!--ssr-lang-->")
      .join(lang);
  } else {
    throw new TypeError("template must be a string or a function");
  }
  const at = page.indexOf(marker);
  if (at < 0 || page.indexOf(marker, at + marker.length) >= 0) {
    throw new TypeError(
      typeof template === "function"
        ? "template function must put `body` into the page exactly once"
        : `template must contain ${OUTLET} exactly once`,
    );
  }
  return { before: page.slice(0, at), after: page.slice(at + marker.length) };
}

const PAGE_KEYS = new Set(["title", "template", "head", "scripts", "lang", "status"]);

function splitOptions(options) {
  const page = {};
  const render = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (PAGE_KEYS.has(key)) page[key] = value;
    else render[key] = value;
  }
  return { page, render };
}

/** Renders a whole page to a string (for frameworks other than Express). */
async function renderPage(client, component, props, options = {}) {
  const { page, render } = splitOptions(options);
  const { before, after } = pageParts(page);
  return before + (await client.render(component, props, render)) + after;
}

/**
 * Writes a full page to a Node/Express/Connect response. With fallback on
 * (the render cannot fail), the head of the page is sent at once, so the
 * browser fetches styles and scripts while the service renders; with
 * fallback off the page is sent only after a successful render and a failure
 * rejects before anything was written.
 */
async function sendPage(client, res, component, props, options = {}) {
  const { page, render } = splitOptions(options);
  const { before, after } = pageParts(page);
  // Serialize up front: bad props should fail before any byte is sent.
  const propsJson = render.propsJson ?? propsToJson(props);
  const streaming = render.fallback ?? client.fallback;

  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) controller.abort();
  };
  res.on("close", onClose);
  const callerSignal = render.signal;
  const onCallerAbort = () => controller.abort(callerSignal.reason);
  callerSignal?.addEventListener("abort", onCallerAbort, { once: true });

  try {
    if (streaming) {
      writeHead(res, page.status);
      res.write(before);
    }
    let markup;
    try {
      markup = await client.render(component, props, { ...render, propsJson, signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted && !callerSignal?.aborted) return; // the browser went away
      if (streaming) res.destroy(error);
      throw error;
    }
    if (res.destroyed) return;
    if (streaming) {
      res.end(markup + after);
    } else {
      writeHead(res, page.status);
      res.end(before + markup + after);
    }
  } finally {
    res.off("close", onClose);
    callerSignal?.removeEventListener("abort", onCallerAbort);
  }
}

function writeHead(res, status) {
  if (res.headersSent) return;
  res.statusCode = status ?? 200;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
}

function isClient(value) {
  return value !== null && typeof value === "object" && typeof value.render === "function";
}

/**
 * Express/Connect middleware adding `res.renderSSR(component, props, options)`.
 * `clientOrOptions` is a client from createClient or options for one;
 * `defaults` are page options used by every renderSSR call (template,
 * scripts, head, lang, title, and render options such as timeoutMs).
 */
function ssrMiddleware(clientOrOptions = {}, defaults = {}) {
  const client = isClient(clientOrOptions) ? clientOrOptions : createClient(clientOrOptions);
  // Fail at start-up, not on the first request, when the template is broken.
  pageParts(splitOptions(defaults).page);
  function middleware(req, res, next) {
    res.renderSSR = (component, props, options) =>
      sendPage(client, res, component, props, { ...defaults, ...(options ?? {}) });
    next();
  }
  middleware.client = client;
  return middleware;
}

module.exports = { ssrMiddleware, renderPage, sendPage, pageParts, DEFAULT_TEMPLATE };
