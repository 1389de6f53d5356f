// Installs a value the way Web IDL installs interfaces on the global object
// (and the way runtime.js installs its globals): writable, configurable,
// not enumerable.
export function define(target, name, value) {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: false });
}

// Web IDL makes the operations and attributes of an interface enumerable;
// class syntax makes them non-enumerable.
export function enumerable(prototype, names) {
  for (const name of names) Object.defineProperty(prototype, name, { enumerable: true });
}

export function toStringTag(prototype, tag) {
  Object.defineProperty(prototype, Symbol.toStringTag, { value: tag, writable: false, enumerable: false, configurable: true });
}

// Web IDL: an operation given fewer arguments than it requires throws.
export function required(what, given, needed) {
  if (given < needed) {
    throw new TypeError(`${what}: ${needed} argument${needed === 1 ? "" : "s"} required, but only ${given} present`);
  }
}
