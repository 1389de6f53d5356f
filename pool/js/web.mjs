// Entry of pool/src/web.js (built by build.mjs): the Web APIs a streaming
// render needs, defined on globalThis like runtime.js's globals (writable,
// configurable, not enumerable). Takes nothing from the host; uses only the
// ECMAScript built-ins and, when called, the runtime's setTimeout,
// queueMicrotask, performance.now and console.
//
// DOMException comes first: its module installs the global as it loads, and
// web-streams-polyfill looks it up while it loads.
import { DOMException } from "./src/dom-exception.mjs";
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableByteStreamController,
  ReadableStream,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableStreamDefaultReader,
  TransformStream,
  TransformStreamDefaultController,
  WritableStream,
  WritableStreamDefaultController,
  WritableStreamDefaultWriter,
} from "web-streams-polyfill";
import { AbortController, AbortSignal, Event, EventTarget } from "./src/events.mjs";
import { Headers } from "./src/headers.mjs";
import { define } from "./src/define.mjs";

const globals = {
  DOMException,
  Event,
  EventTarget,
  AbortController,
  AbortSignal,
  Headers,
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ReadableStreamDefaultController,
  ReadableByteStreamController,
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  TransformStream,
  TransformStreamDefaultController,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
};
for (const name of Object.keys(globals)) {
  const value = globals[name];
  // The bundler renames a class whose name a package also reads as a global
  // (web-streams-polyfill's `typeof AbortController`); the interface keeps
  // its name.
  if (value.name !== name) Object.defineProperty(value, "name", { value: name, configurable: true });
  define(globalThis, name, value);
}
