// ES module entry. The implementation lives in the CommonJS files, so
// `import` and `require` share one copy (and `instanceof SsrError` holds
// whichever way the package was loaded).
import cjs from "./index.cjs";

export const {
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
} = cjs;
