// The default iterator object of a Web IDL pair iterator, shared by Headers
// and URLSearchParams: it keeps its target, kind and index, and reads the
// target's list of [name, value] pairs again on every step, so iteration is
// live.
import { enumerable, toStringTag } from "./define.mjs";

const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));

// Returns the iterator class of the interface `name`: `new Iterator(target,
// kind)` with kind "key", "value" or "key+value"; `pairsOf(target)` returns
// the target's current pairs. Every call makes a new class, so each
// interface's iterators carry their own brand: `next` of one interface's
// iterator prototype throws when called on another's iterator.
export function pairIterator(name, pairsOf) {
  const tag = `${name} Iterator`;
  class PairIterator {
    #target;
    #kind;
    #index = 0;
    constructor(target, kind) {
      this.#target = target;
      this.#kind = kind;
    }
    next() {
      if (this === null || typeof this !== "object" || !(#target in this)) {
        throw new TypeError(`next method called on an object that is not a ${tag}`);
      }
      const pairs = pairsOf(this.#target);
      if (this.#index >= pairs.length) return { value: undefined, done: true };
      const [key, value] = pairs[this.#index++];
      if (this.#kind === "key") return { value: key, done: false };
      if (this.#kind === "value") return { value, done: false };
      return { value: [key, value], done: false };
    }
  }
  Object.setPrototypeOf(PairIterator.prototype, IteratorPrototype);
  delete PairIterator.prototype.constructor;
  enumerable(PairIterator.prototype, ["next"]);
  toStringTag(PairIterator.prototype, tag);
  return PairIterator;
}
