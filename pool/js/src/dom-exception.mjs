// DOMException as Web IDL defines it: `new DOMException(message = "", name
// = "Error")`, read-only `name`, `message` and `code` (the legacy code of
// the names that have one, else 0), the legacy code constants on the
// interface and its prototype, and Error.prototype as the prototype's
// prototype. Instances carry a V8 `stack`, as in browsers and Node.
//
// This module installs globalThis.DOMException as it loads: it is imported
// before web-streams-polyfill, which looks the global up once, while it
// loads, for the "AbortError" it rejects aborted pipes with.
import { define, enumerable, toStringTag } from "./define.mjs";

const LEGACY_CODES = [
  ["IndexSizeError", "INDEX_SIZE_ERR", 1],
  [null, "DOMSTRING_SIZE_ERR", 2],
  ["HierarchyRequestError", "HIERARCHY_REQUEST_ERR", 3],
  ["WrongDocumentError", "WRONG_DOCUMENT_ERR", 4],
  ["InvalidCharacterError", "INVALID_CHARACTER_ERR", 5],
  [null, "NO_DATA_ALLOWED_ERR", 6],
  ["NoModificationAllowedError", "NO_MODIFICATION_ALLOWED_ERR", 7],
  ["NotFoundError", "NOT_FOUND_ERR", 8],
  ["NotSupportedError", "NOT_SUPPORTED_ERR", 9],
  ["InUseAttributeError", "INUSE_ATTRIBUTE_ERR", 10],
  ["InvalidStateError", "INVALID_STATE_ERR", 11],
  ["SyntaxError", "SYNTAX_ERR", 12],
  ["InvalidModificationError", "INVALID_MODIFICATION_ERR", 13],
  ["NamespaceError", "NAMESPACE_ERR", 14],
  ["InvalidAccessError", "INVALID_ACCESS_ERR", 15],
  [null, "VALIDATION_ERR", 16],
  ["TypeMismatchError", "TYPE_MISMATCH_ERR", 17],
  ["SecurityError", "SECURITY_ERR", 18],
  ["NetworkError", "NETWORK_ERR", 19],
  ["AbortError", "ABORT_ERR", 20],
  ["URLMismatchError", "URL_MISMATCH_ERR", 21],
  ["QuotaExceededError", "QUOTA_EXCEEDED_ERR", 22],
  ["TimeoutError", "TIMEOUT_ERR", 23],
  ["InvalidNodeTypeError", "INVALID_NODE_TYPE_ERR", 24],
  ["DataCloneError", "DATA_CLONE_ERR", 25],
];
const codeOfName = new Map();
for (const [name, , code] of LEGACY_CODES) if (name !== null) codeOfName.set(name, code);

export class DOMException {
  #name;
  #message;
  constructor(message = "", name = "Error") {
    // Web IDL DOMString conversions (a Symbol throws a TypeError).
    this.#message = `${message}`;
    this.#name = `${name}`;
    if (typeof Error.captureStackTrace === "function") Error.captureStackTrace(this, new.target);
  }
  get name() {
    if (!(#name in this)) throw new TypeError("Illegal invocation");
    return this.#name;
  }
  get message() {
    if (!(#name in this)) throw new TypeError("Illegal invocation");
    return this.#message;
  }
  get code() {
    if (!(#name in this)) throw new TypeError("Illegal invocation");
    return codeOfName.get(this.#name) ?? 0;
  }
}
Object.setPrototypeOf(DOMException.prototype, Error.prototype);
enumerable(DOMException.prototype, ["name", "message", "code"]);
toStringTag(DOMException.prototype, "DOMException");
for (const [, constant, code] of LEGACY_CODES) {
  const descriptor = { value: code, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, constant, descriptor);
  Object.defineProperty(DOMException.prototype, constant, descriptor);
}

define(globalThis, "DOMException", DOMException);
