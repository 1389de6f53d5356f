// ES module entry. The implementation lives in the CommonJS files, so
// `import` and `require` share one copy (and `instanceof SsrError` holds
// whichever way the package was loaded).
//
// Node.js finds the names to re-export by reading index.cjs statically: keep
// its `module.exports = { name, ... }` a literal of plain names.
export * from "./index.cjs";
