// Headers as the Fetch Standard defines it, with the "none" guard (no
// forbidden names: the host decides what it sends) or, for the headers of a
// fetched response, Response.error() and Response.redirect(), the
// "immutable" guard (append, delete and set throw): a header list that keeps
// each name as first given and compares names case-insensitively; append,
// delete, get, getSetCookie, has, set; iteration over the sorted, combined
// list (lowercase names, values joined with ", ", Set-Cookie values one by
// one), live as Web IDL pair iterators are. Names must be tokens; values are
// normalized (leading and trailing tabs, line feeds, carriage returns and
// spaces removed) and may not contain NUL, CR or LF; both are ByteStrings.
import { enumerable, toStringTag } from "./define.mjs";
import { pairIterator } from "./iterator.mjs";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\0\r\n]/;
const isHttpWhitespace = (c) => c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20;

export function byteString(value, what) {
  const text = `${value}`;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) {
      throw new TypeError(`${what}: the character at index ${i} has a value of ${text.charCodeAt(i)}, greater than 255`);
    }
  }
  return text;
}

function normalize(value) {
  let start = 0;
  let end = value.length;
  while (start < end && isHttpWhitespace(value.charCodeAt(start))) start++;
  while (end > start && isHttpWhitespace(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function checkName(name, what) {
  if (!TOKEN.test(name)) throw new TypeError(`${what}: "${name}" is not a valid header name`);
}

function checkValue(value, what) {
  if (INVALID_VALUE.test(value)) throw new TypeError(`${what}: "${value}" is not a valid header value`);
}

// Set by the class's static block: the sorted, combined pairs of a Headers
// and its brand check, for the iterator and the helpers outside the class.
let pairsOf;
let isHeaders;
let guard;
let copy;

/** Gives headers the "immutable" guard; returns them. */
export function immutable(headers) {
  guard(headers);
  return headers;
}

/** A new Headers with the same list and guard, as cloning a request or response gives. */
export function cloneHeaders(headers) {
  return copy(headers);
}

export class Headers {
  // [name as first given, lowercase name, value] in insertion order.
  #list = [];
  #immutable = false;

  constructor(init = undefined) {
    if (init === undefined) return;
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers: init must be an object or a sequence of pairs");
    }
    const iteratorMethod = init[Symbol.iterator];
    if (iteratorMethod !== undefined && iteratorMethod !== null) {
      if (typeof iteratorMethod !== "function") throw new TypeError("Headers: init[Symbol.iterator] is not a function");
      // sequence<sequence<ByteString>>: every pair is converted before any is appended.
      const pairs = [];
      for (const pair of { [Symbol.iterator]: () => iteratorMethod.call(init) }) {
        if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function") {
          throw new TypeError("Headers: each header must be a sequence of a name and a value");
        }
        const items = [];
        for (const item of pair) items.push(byteString(item, "Headers"));
        if (items.length !== 2) throw new TypeError("Headers: each header must be a sequence of exactly a name and a value");
        pairs.push(items);
      }
      for (const [name, value] of pairs) this.#append(name, value, "Headers");
    } else {
      // record<ByteString, ByteString>: own enumerable string keys, in order.
      const record = new Map();
      for (const key of Reflect.ownKeys(init)) {
        const descriptor = Reflect.getOwnPropertyDescriptor(init, key);
        if (descriptor === undefined || !descriptor.enumerable) continue;
        if (typeof key === "symbol") throw new TypeError("Headers: a header name cannot be a Symbol");
        record.set(byteString(key, "Headers"), byteString(init[key], "Headers"));
      }
      for (const [name, value] of record) this.#append(name, value, "Headers");
    }
  }

  #append(name, value, what) {
    value = normalize(value);
    checkName(name, what);
    checkValue(value, what);
    this.#checkMutable(what);
    const lower = name.toLowerCase();
    const first = this.#list.find((entry) => entry[1] === lower);
    this.#list.push([first === undefined ? name : first[0], lower, value]);
  }

  append(name, value) {
    brand(this, "append", arguments.length, 2);
    this.#append(byteString(name, "Headers.append"), byteString(value, "Headers.append"), "Headers.append");
  }

  delete(name) {
    brand(this, "delete", arguments.length, 1);
    name = byteString(name, "Headers.delete");
    checkName(name, "Headers.delete");
    this.#checkMutable("Headers.delete");
    const lower = name.toLowerCase();
    this.#list = this.#list.filter((entry) => entry[1] !== lower);
  }

  get(name) {
    brand(this, "get", arguments.length, 1);
    name = byteString(name, "Headers.get");
    checkName(name, "Headers.get");
    return this.#get(name.toLowerCase());
  }

  #get(lower) {
    let combined = null;
    for (const entry of this.#list) {
      if (entry[1] === lower) combined = combined === null ? entry[2] : `${combined}, ${entry[2]}`;
    }
    return combined;
  }

  getSetCookie() {
    brand(this, "getSetCookie", arguments.length, 0);
    const values = [];
    for (const entry of this.#list) if (entry[1] === "set-cookie") values.push(entry[2]);
    return values;
  }

  has(name) {
    brand(this, "has", arguments.length, 1);
    name = byteString(name, "Headers.has");
    checkName(name, "Headers.has");
    const lower = name.toLowerCase();
    return this.#list.some((entry) => entry[1] === lower);
  }

  set(name, value) {
    brand(this, "set", arguments.length, 2);
    name = byteString(name, "Headers.set");
    value = normalize(byteString(value, "Headers.set"));
    checkName(name, "Headers.set");
    checkValue(value, "Headers.set");
    this.#checkMutable("Headers.set");
    const lower = name.toLowerCase();
    const index = this.#list.findIndex((entry) => entry[1] === lower);
    if (index === -1) {
      this.#list.push([name, lower, value]);
      return;
    }
    const kept = this.#list[index];
    kept[2] = value;
    this.#list = this.#list.filter((entry, i) => i <= index || entry[1] !== lower);
  }

  // "sort and combine": the value pairs iteration and forEach walk.
  #pairs() {
    const names = [...new Set(this.#list.map((entry) => entry[1]))].sort();
    const pairs = [];
    for (const lower of names) {
      if (lower === "set-cookie") {
        for (const entry of this.#list) if (entry[1] === lower) pairs.push([lower, entry[2]]);
      } else {
        pairs.push([lower, this.#get(lower)]);
      }
    }
    return pairs;
  }

  #checkMutable(what) {
    if (this.#immutable) throw new TypeError(`${what}: the headers are immutable`);
  }

  static {
    guard = (headers) => {
      headers.#immutable = true;
    };
    copy = (headers) => {
      const clone = new Headers();
      clone.#list = headers.#list.map((entry) => [...entry]);
      clone.#immutable = headers.#immutable;
      return clone;
    };
    pairsOf = (headers) => headers.#pairs();
    isHeaders = (value) => value !== null && typeof value === "object" && #list in value;
  }

  forEach(callback, thisArg = undefined) {
    brand(this, "forEach", arguments.length, 1);
    if (typeof callback !== "function") throw new TypeError("Headers.forEach: callback is not a function");
    let pairs = pairsOf(this);
    for (let i = 0; i < pairs.length; i++) {
      callback.call(thisArg, pairs[i][1], pairs[i][0], this);
      pairs = pairsOf(this);
    }
  }

  entries() {
    brand(this, "entries", arguments.length, 0);
    return new HeadersIterator(this, "key+value");
  }

  keys() {
    brand(this, "keys", arguments.length, 0);
    return new HeadersIterator(this, "key");
  }

  values() {
    brand(this, "values", arguments.length, 0);
    return new HeadersIterator(this, "value");
  }
}
Object.defineProperty(Headers.prototype, Symbol.iterator, {
  value: Headers.prototype.entries,
  writable: true,
  enumerable: false,
  configurable: true,
});
enumerable(Headers.prototype, ["append", "delete", "get", "getSetCookie", "has", "set", "forEach", "entries", "keys", "values"]);
toStringTag(Headers.prototype, "Headers");

function brand(value, method, given, needed) {
  if (!isHeaders(value)) throw new TypeError(`Headers.${method}: Illegal invocation`);
  if (given < needed) {
    throw new TypeError(`Headers.${method}: ${needed} argument${needed === 1 ? "" : "s"} required, but only ${given} present`);
  }
}

// entries(), keys(), values() and @@iterator: a live pair iterator over the
// sorted, combined list.
const HeadersIterator = pairIterator("Headers", (headers) => pairsOf(headers));
