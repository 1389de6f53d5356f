// Events and aborting, as the DOM Standard defines them (sections "Events"
// and "Aborting ongoing activities"), for targets outside any tree: Event,
// EventTarget, AbortController and AbortSignal.
//
// EventTarget: listeners keyed by (type, callback, capture), the `capture`,
// `once`, `passive` and `signal` options, callback objects with
// `handleEvent`, dispatch over a clone of the listener list (a listener
// removed during a dispatch is not called, and removing one never shifts
// another), capture listeners before the others (both at the target), and
// an exception thrown by a listener reported on the console without
// stopping the dispatch.
//
// AbortSignal: `reason`, `throwIfAborted()`, the `onabort` event handler,
// abort algorithms (how a listener's `signal` option removes it),
// AbortSignal.abort(), AbortSignal.timeout() (on setTimeout) and
// AbortSignal.any() with dependent signals, which are marked aborted before
// any abort event fires. A source signal holds its dependent signals
// strongly until they abort (the standard holds them weakly, which only
// memory can observe): a long-lived signal passed to AbortSignal.any() for
// many short renders keeps their dependents until it aborts itself.
import { DOMException } from "./dom-exception.mjs";
import { enumerable, toStringTag } from "./define.mjs";

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

const isObject = (value) => value !== null && (typeof value === "object" || typeof value === "function");

// Set by the classes' static blocks, for the code outside each class.
let eventState; // (value) => the Event's internal state, or undefined
let isTarget; // (value) => whether it is an EventTarget
let fireEvent; // (target, type) => dispatches a trusted Event
let getHandler; // (target, type) => the event handler attribute's value
let setHandler; // (target, type, value) => sets it
let signalState; // (value) => the AbortSignal's internal state, or undefined

function now() {
  const performance = globalThis.performance;
  return performance !== undefined && typeof performance.now === "function" ? performance.now() : Date.now();
}

// [LegacyUnforgeable] isTrusted: an own property of every Event.
function isTrustedGetter() {
  const state = eventState(this);
  if (state === undefined) throw new TypeError("Illegal invocation");
  return state.trusted;
}

export class Event {
  #state;

  constructor(type, eventInitDict = undefined) {
    if (arguments.length === 0) throw new TypeError("Event: 1 argument required, but only 0 present");
    type = `${type}`;
    if (eventInitDict !== undefined && eventInitDict !== null && typeof eventInitDict !== "object" && typeof eventInitDict !== "function") {
      throw new TypeError("Event: the second argument is not an object");
    }
    const init = eventInitDict ?? {};
    this.#state = {
      type,
      bubbles: !!init.bubbles,
      cancelable: !!init.cancelable,
      composed: !!init.composed,
      target: null,
      currentTarget: null,
      phase: NONE,
      stopPropagation: false,
      stopImmediatePropagation: false,
      canceled: false,
      inPassiveListener: false,
      dispatching: false,
      initialized: true,
      trusted: false,
      timeStamp: now(),
    };
    Object.defineProperty(this, "isTrusted", { get: isTrustedGetter, enumerable: true, configurable: false });
  }

  get type() {
    return state(this).type;
  }
  get target() {
    return state(this).target;
  }
  get srcElement() {
    return state(this).target;
  }
  get currentTarget() {
    return state(this).currentTarget;
  }
  composedPath() {
    const current = state(this).currentTarget;
    return current === null ? [] : [current];
  }
  get eventPhase() {
    return state(this).phase;
  }
  stopPropagation() {
    state(this).stopPropagation = true;
  }
  get cancelBubble() {
    return state(this).stopPropagation;
  }
  set cancelBubble(value) {
    if (value) state(this).stopPropagation = true;
  }
  stopImmediatePropagation() {
    const s = state(this);
    s.stopPropagation = true;
    s.stopImmediatePropagation = true;
  }
  get bubbles() {
    return state(this).bubbles;
  }
  get cancelable() {
    return state(this).cancelable;
  }
  get returnValue() {
    return !state(this).canceled;
  }
  set returnValue(value) {
    if (!value) cancel(state(this));
  }
  preventDefault() {
    cancel(state(this));
  }
  get defaultPrevented() {
    return state(this).canceled;
  }
  get composed() {
    return state(this).composed;
  }
  get timeStamp() {
    return state(this).timeStamp;
  }
  initEvent(type, bubbles = false, cancelable = false) {
    const s = state(this);
    if (arguments.length === 0) throw new TypeError("Event.initEvent: 1 argument required, but only 0 present");
    if (s.dispatching) return;
    Object.assign(s, {
      initialized: true,
      stopPropagation: false,
      stopImmediatePropagation: false,
      canceled: false,
      trusted: false,
      target: null,
      type: `${type}`,
      bubbles: !!bubbles,
      cancelable: !!cancelable,
    });
  }

  static {
    eventState = (value) => (isObject(value) && #state in value ? value.#state : undefined);
  }
}
for (const [name, value] of [["NONE", NONE], ["CAPTURING_PHASE", CAPTURING_PHASE], ["AT_TARGET", AT_TARGET], ["BUBBLING_PHASE", BUBBLING_PHASE]]) {
  const descriptor = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(Event, name, descriptor);
  Object.defineProperty(Event.prototype, name, descriptor);
}
enumerable(Event.prototype, [
  "type", "target", "srcElement", "currentTarget", "composedPath", "eventPhase", "stopPropagation", "cancelBubble",
  "stopImmediatePropagation", "bubbles", "cancelable", "returnValue", "preventDefault", "defaultPrevented",
  "composed", "timeStamp", "initEvent",
]);
toStringTag(Event.prototype, "Event");

function state(event) {
  const s = eventState(event);
  if (s === undefined) throw new TypeError("Illegal invocation");
  return s;
}

function cancel(s) {
  if (s.cancelable && !s.inPassiveListener) s.canceled = true;
}

// "report an exception": the runtime's console, which goes to the service log.
function report(error) {
  try {
    const console = globalThis.console;
    if (console !== undefined && typeof console.error === "function") console.error(error);
  } catch {
    // Nothing else to report to.
  }
}

// "flatten more": AddEventListenerOptions or a boolean (capture).
function flattenAdd(options) {
  if (!isObject(options)) {
    if (options === undefined || options === null) return { capture: false, once: false, passive: false, signal: null };
    return { capture: !!options, once: false, passive: false, signal: null };
  }
  const capture = !!options.capture;
  const once = !!options.once;
  const passive = !!options.passive;
  let signal = options.signal;
  if (signal === undefined) signal = null;
  else if (signalState(signal) === undefined) throw new TypeError("addEventListener: the signal option is not an AbortSignal");
  return { capture, once, passive, signal };
}

function checkCallback(callback, method) {
  if (callback !== null && callback !== undefined && !isObject(callback)) {
    throw new TypeError(`EventTarget.${method}: the listener is not an object`);
  }
}

export class EventTarget {
  // type -> [{callback, capture, passive, once, signal, removed}], in order.
  #listeners = new Map();
  // type -> {value, listener}: event handler attributes (`onabort`).
  #handlers = new Map();

  addEventListener(type, callback, options = undefined) {
    brandTarget(this, "addEventListener", arguments.length, 2);
    type = `${type}`;
    checkCallback(callback, "addEventListener");
    const { capture, once, passive, signal } = flattenAdd(options);
    if (callback === null || callback === undefined) return;
    this.#add({ type, callback, capture, passive, once, signal, removed: false });
  }

  // "add an event listener".
  #add(listener) {
    const { signal } = listener;
    if (signal !== null && signalState(signal).aborted) return;
    let list = this.#listeners.get(listener.type);
    if (list === undefined) this.#listeners.set(listener.type, (list = []));
    for (const other of list) {
      if (other.callback === listener.callback && other.capture === listener.capture) return;
    }
    list.push(listener);
    if (signal !== null) {
      const algorithm = () => this.#remove(listener);
      listener.abortAlgorithm = algorithm;
      signalState(signal).algorithms.add(algorithm);
    }
  }

  // "remove an event listener".
  #remove(listener) {
    listener.removed = true;
    const list = this.#listeners.get(listener.type);
    if (list !== undefined) {
      const index = list.indexOf(listener);
      if (index !== -1) list.splice(index, 1);
      if (list.length === 0) this.#listeners.delete(listener.type);
    }
    // Not in the standard, where the algorithm stays with the signal and
    // does nothing: the signal need not keep a removed listener alive.
    if (listener.signal !== null) signalState(listener.signal).algorithms.delete(listener.abortAlgorithm);
  }

  removeEventListener(type, callback, options = undefined) {
    brandTarget(this, "removeEventListener", arguments.length, 2);
    type = `${type}`;
    checkCallback(callback, "removeEventListener");
    const capture = isObject(options) ? !!options.capture : !!options;
    const list = this.#listeners.get(type);
    if (list === undefined) return;
    const listener = list.find((l) => l.callback === callback && l.capture === capture);
    if (listener !== undefined) this.#remove(listener);
  }

  dispatchEvent(event) {
    brandTarget(this, "dispatchEvent", arguments.length, 1);
    const s = eventState(event);
    if (s === undefined) throw new TypeError("EventTarget.dispatchEvent: the argument is not an Event");
    if (s.dispatching || !s.initialized) {
      throw new DOMException("The event is already being dispatched", "InvalidStateError");
    }
    s.trusted = false;
    return this.#dispatch(event, s);
  }

  // "dispatch", for a target that has no parent: the path is the target
  // alone, whose capture listeners run before its other listeners.
  #dispatch(event, s) {
    s.dispatching = true;
    s.target = this;
    s.phase = AT_TARGET;
    this.#invoke(event, s, true);
    this.#invoke(event, s, false);
    s.phase = NONE;
    s.currentTarget = null;
    s.dispatching = false;
    s.stopPropagation = false;
    s.stopImmediatePropagation = false;
    return !s.canceled;
  }

  // "invoke" and "inner invoke" over a clone of the listener list.
  #invoke(event, s, capturing) {
    if (s.stopPropagation) return;
    s.currentTarget = this;
    const list = this.#listeners.get(s.type);
    if (list === undefined) return;
    for (const listener of list.slice()) {
      if (listener.removed || listener.capture !== capturing) continue;
      if (listener.once) this.#remove(listener);
      if (listener.passive) s.inPassiveListener = true;
      try {
        const callback = listener.callback;
        if (typeof callback === "function") {
          callback.call(this, event);
        } else {
          const handleEvent = callback.handleEvent;
          if (typeof handleEvent !== "function") throw new TypeError("The listener has no handleEvent method");
          handleEvent.call(callback, event);
        }
      } catch (error) {
        report(error);
      }
      s.inPassiveListener = false;
      if (s.stopImmediatePropagation) return;
    }
  }

  // Event handler attributes ("onabort"): the first non-null value adds a
  // listener that keeps its place while the value changes; null removes it.
  #getHandler(type) {
    return this.#handlers.get(type)?.value ?? null;
  }

  #setHandler(type, value) {
    // [LegacyTreatNonObjectAsNull]
    if (!isObject(value)) value = null;
    const handler = this.#handlers.get(type);
    if (value === null) {
      if (handler !== undefined) {
        this.#remove(handler.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (handler !== undefined) {
      handler.value = value;
      return;
    }
    const entry = { value, listener: null };
    const callback = (event) => {
      const current = entry.value;
      if (typeof current !== "function") return;
      const result = current.call(this, event);
      if (result === false) event.preventDefault();
    };
    entry.listener = { type, callback, capture: false, passive: false, once: false, signal: null, removed: false };
    this.#handlers.set(type, entry);
    this.#add(entry.listener);
  }

  static {
    isTarget = (value) => isObject(value) && #listeners in value;
    fireEvent = (target, type) => {
      const event = new Event(type);
      const s = eventState(event);
      s.trusted = true;
      return target.#dispatch(event, s);
    };
    getHandler = (target, type) => target.#getHandler(type);
    setHandler = (target, type, value) => target.#setHandler(type, value);
  }
}
enumerable(EventTarget.prototype, ["addEventListener", "removeEventListener", "dispatchEvent"]);
toStringTag(EventTarget.prototype, "EventTarget");

function brandTarget(value, method, given, needed) {
  if (!isTarget(value)) throw new TypeError(`EventTarget.${method}: Illegal invocation`);
  if (given < needed) {
    throw new TypeError(`EventTarget.${method}: ${needed} argument${needed === 1 ? "" : "s"} required, but only ${given} present`);
  }
}

const CREATE = Symbol("create");

export class AbortSignal extends EventTarget {
  #state = {
    target: null,
    aborted: false,
    reason: undefined,
    algorithms: new Set(),
    dependent: false,
    // Of a source signal: the dependent signals created from it, not yet aborted.
    dependents: new Set(),
    // Of a dependent signal: the source signals it follows.
    sources: new Set(),
  };

  constructor(key) {
    if (key !== CREATE) throw new TypeError("Illegal constructor");
    super();
    this.#state.target = this;
  }

  static abort(reason) {
    const signal = createSignal();
    signalAbort(signal, reason);
    return signal;
  }

  static timeout(milliseconds) {
    const ms = enforceRange(milliseconds, "AbortSignal.timeout");
    const signal = createSignal();
    setTimeout(() => {
      signalAbort(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    }, ms);
    return signal;
  }

  static any(signals) {
    if (!isObject(signals) || typeof signals[Symbol.iterator] !== "function") {
      throw new TypeError("AbortSignal.any: the argument is not a sequence");
    }
    const sources = [];
    for (const signal of signals) {
      const s = signalState(signal);
      if (s === undefined) throw new TypeError("AbortSignal.any: every element must be an AbortSignal");
      sources.push(s);
    }
    // "create a dependent abort signal"
    const result = createSignal();
    const r = signalState(result);
    for (const source of sources) {
      if (source.aborted) {
        r.aborted = true;
        r.reason = source.reason;
        return result;
      }
    }
    r.dependent = true;
    for (const source of sources) {
      for (const upstream of source.dependent ? source.sources : [source]) {
        r.sources.add(upstream);
        upstream.dependents.add(r);
      }
    }
    return result;
  }

  get aborted() {
    return signalOf(this).aborted;
  }

  get reason() {
    return signalOf(this).reason;
  }

  throwIfAborted() {
    const s = signalOf(this);
    if (s.aborted) throw s.reason;
  }

  get onabort() {
    signalOf(this);
    return getHandler(this, "abort");
  }

  set onabort(value) {
    signalOf(this);
    setHandler(this, "abort", value);
  }

  static {
    signalState = (value) => (isObject(value) && #state in value ? value.#state : undefined);
  }
}
enumerable(AbortSignal.prototype, ["aborted", "reason", "throwIfAborted", "onabort"]);
enumerable(AbortSignal, ["abort", "timeout", "any"]);
toStringTag(AbortSignal.prototype, "AbortSignal");

function createSignal() {
  return new AbortSignal(CREATE);
}

function signalOf(value) {
  const s = signalState(value);
  if (s === undefined) throw new TypeError("Illegal invocation");
  return s;
}

// "signal abort": mark the signal and its dependents not yet aborted, then
// run the abort steps of each.
function signalAbort(signal, reason) {
  const s = signalState(signal);
  if (s.aborted) return;
  s.aborted = true;
  s.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
  const toAbort = [];
  for (const dependent of s.dependents) {
    if (!dependent.aborted) {
      dependent.aborted = true;
      dependent.reason = s.reason;
      toAbort.push(dependent);
    }
  }
  s.dependents.clear();
  abortSteps(s);
  for (const dependent of toAbort) abortSteps(dependent);
}

// "run the abort steps": the abort algorithms, then the abort event.
function abortSteps(s) {
  for (const source of s.sources) source.dependents.delete(s);
  s.sources.clear();
  const algorithms = [...s.algorithms];
  s.algorithms.clear();
  for (const algorithm of algorithms) algorithm();
  fireEvent(s.target, "abort");
}

// Web IDL `[EnforceRange] unsigned long long`.
function enforceRange(value, what) {
  let n = Number(value);
  if (!Number.isFinite(n)) throw new TypeError(`${what}: the value is not a finite number`);
  n = Math.trunc(n);
  if (n < 0 || n > Number.MAX_SAFE_INTEGER) throw new TypeError(`${what}: the value is outside the range of an unsigned long long`);
  return n === 0 ? 0 : n;
}

export class AbortController {
  #signal = createSignal();

  get signal() {
    if (!(#signal in this)) throw new TypeError("Illegal invocation");
    return this.#signal;
  }

  abort(reason) {
    if (!(#signal in this)) throw new TypeError("Illegal invocation");
    signalAbort(this.#signal, reason);
  }
}
enumerable(AbortController.prototype, ["signal", "abort"]);
toStringTag(AbortController.prototype, "AbortController");
