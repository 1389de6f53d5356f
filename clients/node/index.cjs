"use strict";

const { createClient } = require("./lib/client.cjs");
const {
  SsrError,
  SsrHttpError,
  SsrTimeoutError,
  SsrNetworkError,
  SsrCircuitOpenError,
} = require("./lib/errors.cjs");
const { ssrMiddleware, renderPage, sendPage, pageParts } = require("./lib/page.cjs");
const { escapeHtml, escapeJsonForScript, wrapHtml, placeholderHtml } = require("./lib/markup.cjs");

module.exports = {
  createClient,
  ssrMiddleware,
  renderPage,
  sendPage,
  pageParts,
  escapeHtml,
  escapeJsonForScript,
  wrapHtml,
  placeholderHtml,
  SsrError,
  SsrHttpError,
  SsrTimeoutError,
  SsrNetworkError,
  SsrCircuitOpenError,
};
