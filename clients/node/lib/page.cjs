"use strict";

// Full HTML pages around a render, and the Express/Connect middleware that
// streams them (`res.renderSSR`) as the service streams the render.

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

const PAGE_KEYS = new Set(["title", "template", "head", "scripts", "lang", "status", "stream", "document"]);

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
 * Writes a full page to a Node/Express/Connect response. The markup is
 * streamed through as the service sends it (client.renderStream; page
 * option `stream: false` waits for the whole render instead). With fallback
 * on (the render cannot fail before its first byte), the head of the page is
 * sent at once, so the browser fetches styles and scripts while the service
 * renders; with fallback off nothing is written before the first byte of the
 * render and a failure before it rejects. A failure after it destroys `res`
 * (the browser sees an incomplete page, never one that looks complete). With
 * `document: true` the component renders the whole document, which is sent
 * as it is (the page options only shape the fallback page).
 */
async function sendPage(client, res, component, props, options = {}) {
  const { page, render } = splitOptions(options);
  const { before, after } = pageParts(page);
  // Serialize up front: bad props should fail before any byte is sent.
  const propsJson = render.propsJson ?? propsToJson(props);
  const fallback = render.fallback ?? client.fallback;
  const streamed = page.stream !== false && typeof client.renderStream === "function";
  const whole = streamed && page.document === true;
  // The head goes out before the render when nothing can replace it.
  const early = fallback && !whole;

  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableEnded) controller.abort();
  };
  res.on("close", onClose);
  const callerSignal = render.signal;
  const onCallerAbort = () => controller.abort(callerSignal.reason);
  callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
  // The browser went away: not a failure of the render.
  const browserGone = () => controller.signal.aborted && !callerSignal?.aborted;

  try {
    if (early) {
      writeHead(res, page.status);
      res.write(before);
    }
    const renderOptions = { ...render, propsJson, signal: controller.signal };
    if (whole) renderOptions.wrap = false;
    let result;
    try {
      result = streamed
        ? await client.renderStream(component, props, renderOptions)
        : { markup: await client.render(component, props, renderOptions) };
    } catch (error) {
      if (browserGone()) return;
      if (early) res.destroy(error);
      throw error;
    }
    if (res.destroyed) {
      result.stream?.cancel().catch(() => {});
      return;
    }
    const asDocument = whole && !result.fallback;
    if (!early) {
      writeHead(res, page.status);
      if (!asDocument) res.write(before);
    }
    if (!streamed) {
      res.end(result.markup + after);
      return;
    }
    try {
      await pipeTo(result.stream, res);
    } catch (error) {
      res.destroy();
      if (browserGone() || fallback) return;
      throw error;
    }
    res.end(asDocument ? undefined : after);
  } finally {
    res.off("close", onClose);
    callerSignal?.removeEventListener("abort", onCallerAbort);
  }
}

// Writes each chunk of `stream` to `res` as it comes, waiting for `res` to
// drain when it is full. Rejects when the stream errors or `res` closes.
async function pipeTo(stream, res) {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (res.destroyed) throw new Error("response closed");
      if (!res.write(value)) await drained(res);
    }
  } catch (error) {
    reader.cancel(error).catch(() => {});
    throw error;
  }
}

function drained(res) {
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      if (res.destroyed) reject(new Error("response closed"));
      else resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
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
