// URL and URLSearchParams as the URL Standard defines them. URL parses and
// serializes through the host (urlParse and urlSet, see web.mjs), which
// implements the standard's parser and setters; a URL keeps the host's
// record of its components. URLSearchParams is written here: the
// application/x-www-form-urlencoded parser and serializer over a list of
// name-value pairs, which, for a URL's searchParams, writes the URL's query
// on every change and is parsed again when the URL's query is set.
import { enumerable, required, toStringTag } from "./define.mjs";
import { pairIterator } from "./iterator.mjs";

let urlParse;
let urlSet;

export function useUrlHost(host) {
  ({ urlParse, urlSet } = host);
}

// Web IDL USVString: lone surrogates become U+FFFD; a Symbol throws.
const usv = (value) => `${value}`.toWellFormed();

/** The host's record of `input` against `base` (a string or undefined), or null. */
export function parseUrl(input, base = undefined) {
  return urlParse(usv(input), base === undefined ? undefined : usv(base));
}

// Set by the classes' static blocks: what URL and URLSearchParams do to
// each other.
let attachQuery;
let reparseQuery;
let writeQuery;

// Lets URL.parse wrap a record it has without parsing it again.
const ADOPT = Symbol("adopt");

export class URL {
  #record;
  #query = null;

  constructor(url, base = undefined) {
    if (url === ADOPT) {
      this.#record = base;
      return;
    }
    required("URL constructor", arguments.length, 1);
    const record = parseUrl(url, base);
    if (record === null) throw new TypeError("Invalid URL");
    this.#record = record;
  }

  static canParse(url, base = undefined) {
    required("URL.canParse", arguments.length, 1);
    return parseUrl(url, base) !== null;
  }

  static parse(url, base = undefined) {
    required("URL.parse", arguments.length, 1);
    const record = parseUrl(url, base);
    return record === null ? null : new URL(ADOPT, record);
  }

  static {
    writeQuery = (url, serialized) => {
      url.#record = urlSet(url.#record.href, "search", serialized);
    };
  }

  // Getters and setters on an object that is not a URL throw a TypeError
  // where they read #record.
  #set(name, value) {
    const record = urlSet(this.#record.href, name, usv(value));
    if (record === null) throw new TypeError("Invalid URL");
    this.#record = record;
    if (this.#query !== null && (name === "href" || name === "search")) reparseQuery(this.#query, record.search);
  }

  get href() {
    return this.#record.href;
  }
  set href(value) {
    this.#set("href", value);
  }
  get origin() {
    return this.#record.origin;
  }
  get protocol() {
    return this.#record.protocol;
  }
  set protocol(value) {
    this.#set("protocol", value);
  }
  get username() {
    return this.#record.username;
  }
  set username(value) {
    this.#set("username", value);
  }
  get password() {
    return this.#record.password;
  }
  set password(value) {
    this.#set("password", value);
  }
  get host() {
    return this.#record.host;
  }
  set host(value) {
    this.#set("host", value);
  }
  get hostname() {
    return this.#record.hostname;
  }
  set hostname(value) {
    this.#set("hostname", value);
  }
  get port() {
    return this.#record.port;
  }
  set port(value) {
    this.#set("port", value);
  }
  get pathname() {
    return this.#record.pathname;
  }
  set pathname(value) {
    this.#set("pathname", value);
  }
  get search() {
    return this.#record.search;
  }
  set search(value) {
    this.#set("search", value);
  }
  get hash() {
    return this.#record.hash;
  }
  set hash(value) {
    this.#set("hash", value);
  }

  // Made on first use; the same object for the URL's lifetime.
  get searchParams() {
    if (this.#query === null) {
      this.#query = new URLSearchParams(this.#record.search);
      attachQuery(this.#query, this);
    }
    return this.#query;
  }

  toString() {
    return this.#record.href;
  }

  toJSON() {
    return this.#record.href;
  }
}
enumerable(URL, ["canParse", "parse"]);
enumerable(URL.prototype, [
  "href", "origin", "protocol", "username", "password", "host", "hostname", "port",
  "pathname", "search", "searchParams", "hash", "toString", "toJSON",
]);
toStringTag(URL.prototype, "URL");

// The application/x-www-form-urlencoded parser: `+` is a space and percent
// escapes are bytes of UTF-8 (invalid sequences become U+FFFD).
function parseQuery(input) {
  const list = [];
  for (const sequence of input.split("&")) {
    if (sequence === "") continue;
    const equals = sequence.indexOf("=");
    const name = equals === -1 ? sequence : sequence.slice(0, equals);
    const value = equals === -1 ? "" : sequence.slice(equals + 1);
    list.push([decode(name), decode(value)]);
  }
  return list;
}

const isHex = (byte) => (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x66);

function decode(text) {
  text = text.replaceAll("+", " ");
  if (!text.includes("%")) return text;
  const bytes = new TextEncoder().encode(text);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      bytes[length++] = Number.parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      bytes[length++] = bytes[i];
    }
  }
  // "UTF-8 decode without BOM": a leading BOM is kept.
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.subarray(0, length));
}

// The application/x-www-form-urlencoded serializer: only ASCII alphanumerics
// and *-._ stay as they are, a space becomes `+`. encodeURIComponent also
// keeps !'()~, which this percent-encode set does not.
function encode(text) {
  return encodeURIComponent(text).replace(/%20|[!'()~]/g, (match) =>
    match === "%20" ? "+" : `%${match.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function serializeQuery(list) {
  return list.map(([name, value]) => `${encode(name)}=${encode(value)}`).join("&");
}

let listOf;
let isParams;

export class URLSearchParams {
  // [name, value] pairs, in order.
  #list = [];
  // The URL whose query this is, or null.
  #url = null;

  constructor(init = "") {
    if (init !== null && (typeof init === "object" || typeof init === "function")) {
      this.#list = init[Symbol.iterator] == null ? fromRecord(init) : fromPairs(init);
      return;
    }
    const text = usv(init);
    this.#list = parseQuery(text.startsWith("?") ? text.slice(1) : text);
  }

  static {
    attachQuery = (params, url) => {
      params.#url = url;
    };
    reparseQuery = (params, search) => {
      params.#list = parseQuery(search.slice(1));
    };
    listOf = (params) => params.#list;
    isParams = (value) => value !== null && typeof value === "object" && #list in value;
  }

  #update() {
    if (this.#url !== null) writeQuery(this.#url, serializeQuery(this.#list));
  }

  get size() {
    check(this, "size", 0, 0);
    return this.#list.length;
  }

  append(name, value) {
    check(this, "append", arguments.length, 2);
    this.#list.push([usv(name), usv(value)]);
    this.#update();
  }

  delete(name, value = undefined) {
    check(this, "delete", arguments.length, 1);
    const matches = pairMatcher(name, value);
    this.#list = this.#list.filter((pair) => !matches(pair));
    this.#update();
  }

  get(name) {
    check(this, "get", arguments.length, 1);
    name = usv(name);
    const pair = this.#list.find((entry) => entry[0] === name);
    return pair === undefined ? null : pair[1];
  }

  getAll(name) {
    check(this, "getAll", arguments.length, 1);
    name = usv(name);
    return this.#list.filter((entry) => entry[0] === name).map((entry) => entry[1]);
  }

  has(name, value = undefined) {
    check(this, "has", arguments.length, 1);
    return this.#list.some(pairMatcher(name, value));
  }

  set(name, value) {
    check(this, "set", arguments.length, 2);
    name = usv(name);
    value = usv(value);
    const index = this.#list.findIndex((entry) => entry[0] === name);
    if (index === -1) {
      this.#list.push([name, value]);
    } else {
      this.#list[index] = [name, value];
      this.#list = this.#list.filter((entry, i) => i <= index || entry[0] !== name);
    }
    this.#update();
  }

  // Stable, by the names' code units (what < compares).
  sort() {
    check(this, "sort", 0, 0);
    this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  toString() {
    check(this, "toString", 0, 0);
    return serializeQuery(this.#list);
  }

  forEach(callback, thisArg = undefined) {
    check(this, "forEach", arguments.length, 1);
    if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
    for (let i = 0; i < listOf(this).length; i++) {
      const [name, value] = listOf(this)[i];
      callback.call(thisArg, value, name, this);
    }
  }

  entries() {
    check(this, "entries", 0, 0);
    return new ParamsIterator(this, "key+value");
  }

  keys() {
    check(this, "keys", 0, 0);
    return new ParamsIterator(this, "key");
  }

  values() {
    check(this, "values", 0, 0);
    return new ParamsIterator(this, "value");
  }
}
Object.defineProperty(URLSearchParams.prototype, Symbol.iterator, {
  value: URLSearchParams.prototype.entries,
  writable: true,
  enumerable: false,
  configurable: true,
});
enumerable(URLSearchParams.prototype, [
  "size", "append", "delete", "get", "getAll", "has", "set", "sort", "toString",
  "forEach", "entries", "keys", "values",
]);
toStringTag(URLSearchParams.prototype, "URLSearchParams");

function check(value, method, given, needed) {
  if (!isParams(value)) throw new TypeError(`URLSearchParams.${method}: Illegal invocation`);
  required(`URLSearchParams.${method}`, given, needed);
}

// The test delete and has apply: the name, and the value when one is given.
function pairMatcher(name, value) {
  name = usv(name);
  if (value === undefined) return (pair) => pair[0] === name;
  value = usv(value);
  return (pair) => pair[0] === name && pair[1] === value;
}

// sequence<sequence<USVString>>: every pair has exactly a name and a value.
function fromPairs(init) {
  const list = [];
  for (const pair of init) {
    if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function") {
      throw new TypeError("URLSearchParams: each pair must be a sequence of a name and a value");
    }
    const items = Array.from(pair, usv);
    if (items.length !== 2) throw new TypeError("URLSearchParams: each pair must be a sequence of exactly a name and a value");
    list.push(items);
  }
  return list;
}

// record<USVString, USVString>: own enumerable string keys, in order.
function fromRecord(init) {
  const list = [];
  for (const key of Reflect.ownKeys(init)) {
    const descriptor = Reflect.getOwnPropertyDescriptor(init, key);
    if (descriptor === undefined || !descriptor.enumerable) continue;
    if (typeof key === "symbol") throw new TypeError("URLSearchParams: a name cannot be a Symbol");
    list.push([usv(key), usv(init[key])]);
  }
  return list;
}

// entries(), keys(), values() and @@iterator: a live pair iterator over the list.
const ParamsIterator = pairIterator("URLSearchParams", (params) => listOf(params));
