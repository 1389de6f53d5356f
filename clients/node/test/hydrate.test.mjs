// The hydration markup in a DOM (jsdom) with React's development build:
// hydrateRoot must accept the server HTML without a single warning. The
// placeholders are mounted by @ssr-pool/react's hydrator (bound to this
// package's react-dom). Any console.error fails the test.

import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";

import { JSDOM } from "jsdom";

import { createClient } from "../index.mjs";
import { fixture, freePort, startServer } from "./helpers/server.mjs";

// React DOM looks for a DOM when it is loaded: set one up first.
const dom = new JSDOM("<!DOCTYPE html><html><head></head><body></body></html>", { url: "http://localhost/" });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.navigator ??= dom.window.navigator;
globalThis.IS_REACT_ACT_ENVIRONMENT = true;

const React = await import("react");
const { createRoot, hydrateRoot } = await import("react-dom/client");
const { createHydrator } = await import("../../react/hydrator.js");

const h = React.createElement;
const { act } = React;

// The same components as tests/fixtures/src/basic.jsx.
function Hello({ name = "world" }) {
  return h("div", { className: "hello" }, h("h1", null, "Hello, ", name, "!"));
}

function List({ items = [] }) {
  return h(
    "ul",
    { className: "list" },
    items.map((item) => h("li", { key: item.id, "data-id": item.id }, item.label)),
  );
}

function Echo(props) {
  return h("pre", { className: "echo" }, JSON.stringify(props));
}

function Counter({ start = 0, step = 1, size = 5 }) {
  const [count] = React.useState(start);
  const values = React.useMemo(
    () => Array.from({ length: size }, (_, i) => count + i * step),
    [count, step, size],
  );
  const id = React.useId();
  const inputId = React.useId();
  return h(
    "form",
    { className: "counter", "aria-labelledby": id },
    h("h3", { id }, "Count: ", count),
    h("label", { htmlFor: inputId }, "Step"),
    h("input", { id: inputId, type: "number", defaultValue: step }),
    h("output", null, values.join(", ")),
  );
}

const REGISTRY = { Hello, List, Echo, Counter };

const HOSTILE = {
  text: "</script><script>globalThis.pwned = 1</script>",
  comment: "<!-- -->",
  separators: "a\u2028b\u2029c",
  entity: "&amp;&lt;",
  unicode: "naïve 日本語 🎉",
};

let server;
let client;
let roots = [];
let problems = [];
const originalConsoleError = console.error;

before(async () => {
  server = await startServer({ bundle: fixture("basic") });
  client = createClient({ url: server.url, fallback: false });
});

after(async () => {
  await server?.stop();
  dom.window.close();
});

beforeEach(() => {
  problems = [];
  console.error = (...args) => {
    problems.push(["console.error", args.map(String).join(" ")]);
  };
});

afterEach(async () => {
  console.error = originalConsoleError;
  await act(async () => {
    for (const { root } of roots) root.unmount();
  });
  roots = [];
  document.body.innerHTML = "";
});

const hydrator = createHydrator({ createElement: h, createRoot, hydrateRoot });

async function mountAll(options = {}) {
  await act(async () => {
    roots = hydrator.hydrateAll(REGISTRY, {
      onRecoverableError: (error) => problems.push(["recoverable", String(error?.message ?? error)]),
      onError: (error) => problems.push(["hydrator", String(error?.message ?? error)]),
      ...options,
    });
  });
  return roots;
}

// mountAll, checking that nothing was reported; resolves with
// [component, mode] for each mounted placeholder, mode being "hydrate" for
// server HTML and "render" for a fallback placeholder.
async function mountCleanly() {
  const mounted = await mountAll();
  assert.deepEqual(problems, []);
  return mounted.map((m) => [m.component, m.mode]);
}

function hasFiber(node) {
  return Object.keys(node).some((key) => key.startsWith("__reactFiber$"));
}

describe("hydration (React development build in jsdom)", () => {
  test("server HTML hydrates without mismatches and keeps its DOM nodes", async () => {
    const markup = [
      await client.render("Hello", { name: "Ada" }),
      await client.render("Counter", { start: 3, step: 2 }),
      await client.render("Counter", { start: 10 }),
      await client.render("List", { items: [{ id: "a", label: "Alpha" }, { id: "b", label: "Beta" }] }),
      await client.render("Echo", HOSTILE),
    ];
    document.body.innerHTML = `<main>${markup.join("\n")}</main>`;
    const h1 = document.querySelector(".hello h1");
    const input = document.querySelector(".counter input");
    const pre = document.querySelector("pre.echo");

    assert.deepEqual(await mountCleanly(), [
      ["Hello", "hydrate"],
      ["Counter", "hydrate"],
      ["Counter", "hydrate"],
      ["List", "hydrate"],
      ["Echo", "hydrate"],
    ]);
    // Hydration adopted the server's nodes instead of re-creating them.
    assert.equal(document.querySelector(".hello h1"), h1);
    assert.equal(document.querySelector(".counter input"), input);
    assert.equal(document.querySelector("pre.echo"), pre);
    assert.ok(hasFiber(h1) && hasFiber(input) && hasFiber(pre));
    assert.equal(pre.textContent, JSON.stringify(HOSTILE));
    assert.equal(dom.window.pwned, undefined);
    // A second call finds nothing left to mount.
    assert.deepEqual(hydrator.hydrateAll(REGISTRY), []);
  });

  test("hydrate(name, Component) mounts only that component", async () => {
    document.body.innerHTML =
      (await client.render("Hello", { name: "one" })) + (await client.render("List", { items: [] }));
    let mounted;
    await act(async () => {
      mounted = hydrator.hydrate("Hello", Hello, {
        onRecoverableError: (error) => problems.push(["recoverable", String(error)]),
      });
    });
    roots = mounted;
    assert.deepEqual(problems, []);
    assert.deepEqual(
      mounted.map((m) => m.component),
      ["Hello"],
    );
    assert.ok(hasFiber(document.querySelector(".hello")));
    assert.equal(hasFiber(document.querySelector(".list")), false);
  });

  test("the check catches a real mismatch (control)", async () => {
    const markup = await client.render("Hello", { name: "Ada" });
    // The browser gets different props than the server rendered with.
    const tamper = () => {
      document.body.innerHTML = markup;
      document.querySelector("script[data-ssr-props-for]").textContent = '{"name":"Eve"}';
    };
    tamper();
    await mountAll();
    assert.equal(problems.length, 1, "reported through onRecoverableError");
    assert.equal(problems[0][0], "recoverable");
    assert.match(problems[0][1], /Hydration failed/);

    // Without a hook, React reports it with console.error.
    await act(async () => roots.forEach(({ root }) => root.unmount()));
    problems = [];
    tamper();
    await mountAll({ onRecoverableError: undefined });
    assert.ok(problems.length > 0);
    assert.ok(problems.every((p) => p[0] === "console.error"));
    assert.match(problems[0][1], /Hydration failed/);
  });

  test("fallback placeholders are rendered on the client with createRoot", async () => {
    const offline = createClient({ url: `http://127.0.0.1:${await freePort()}`, retries: 0 });
    document.body.innerHTML =
      (await offline.render("Hello", { name: "offline" })) + (await offline.render("Echo", HOSTILE));
    assert.deepEqual(await mountCleanly(), [
      ["Hello", "render"],
      ["Echo", "render"],
    ]);
    assert.equal(
      document.querySelector('[data-ssr-component="Hello"]').innerHTML,
      '<div class="hello"><h1>Hello, offline!</h1></div>',
    );
    assert.equal(document.querySelector("pre.echo").textContent, JSON.stringify(HOSTILE));
  });

  test("unknown components and missing props scripts are reported, the rest still mounts", async () => {
    document.body.innerHTML =
      '<div data-ssr-component="Nope" data-ssr-id="x1"></div><script type="application/json" data-ssr-props-for="x1">{}</script>' +
      '<div data-ssr-component="Hello" data-ssr-id="x2"></div>' +
      (await client.render("Hello", { name: "ok" }));
    const reported = [];
    const mounted = await mountAll({ onError: (error, info) => reported.push([info.component, error.message]) });
    assert.deepEqual(reported, [
      ["Nope", 'ssr: no component registered as "Nope"'],
      ["Hello", 'ssr: no props script for placeholder "x2"'],
    ]);
    assert.equal(mounted.length, 1);
    assert.deepEqual(problems, []);
  });
});
