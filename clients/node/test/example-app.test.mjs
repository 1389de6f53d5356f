// End to end with the example app: its server bundle (pages registered with
// @ssr-pool/react) rendered by the service, pages served by Express through
// the middleware, and its browser bundle (dist/client.js, hydrateAll from
// @ssr-pool/react/client) run in jsdom. No error may be reported.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import express from "express";
import { JSDOM, VirtualConsole } from "jsdom";

import { createClient, ssrMiddleware } from "../index.mjs";
import { listen } from "./helpers/http.mjs";
import { exampleDir, freePort, startServer } from "./helpers/server.mjs";

const clientBundle = readFileSync(path.join(exampleDir, "dist/client.js"), "utf8");
const homeProps = JSON.parse(readFileSync(path.join(exampleDir, "props/home.json"), "utf8"));

let server;
let site;

async function startSite(url) {
  const app = express();
  app.use(ssrMiddleware(createClient({ url, retries: 0 }), { scripts: ["/client.js"] }));
  app.get("/client.js", (req, res) => res.type("text/javascript").send(clientBundle));
  app.get("/", (req, res) => res.renderSSR("Home", homeProps, { title: "Home" }));
  app.get("/product/:id", (req, res) =>
    res.renderSSR("Product", { id: req.params.id, locale: "de-DE", currency: "EUR" }, { title: "Product" }),
  );
  app.get("/cart", (req, res) => res.renderSSR("Cart", { user: { name: "Ada" } }, { title: "Cart" }));
  return listen(app);
}

before(async () => {
  server = await startServer({ bundle: path.join(exampleDir, "dist/server.js") });
  site = await startSite(server.url);
});

after(async () => {
  await site?.close();
  await server?.stop();
});

// Loads a page the way a browser does (external scripts included) and waits
// until React has mounted every placeholder. `html` replaces the page body
// fetched from `url` (scripts still load from `url`).
async function browse(url, html) {
  const problems = [];
  const virtualConsole = new VirtualConsole();
  virtualConsole.on("error", (...args) => problems.push(`console.error: ${args.map(String).join(" ")}`));
  virtualConsole.on("warn", (...args) => problems.push(`console.warn: ${args.map(String).join(" ")}`));
  virtualConsole.on("jsdomError", (error) => problems.push(`jsdom: ${error.message}`));
  const options = {
    runScripts: "dangerously",
    resources: "usable",
    virtualConsole,
    beforeParse(window) {
      window.reportError = (error) => problems.push(`reportError: ${error?.message ?? error}`);
      window.addEventListener("error", (event) => problems.push(`error event: ${event.message}`));
    },
  };
  const dom = html === undefined ? await JSDOM.fromURL(url, options) : new JSDOM(html, { ...options, url });
  const { document } = dom.window;
  if (html !== undefined) {
    await new Promise((resolve) => dom.window.addEventListener("load", resolve));
  }
  const placeholders = [...document.querySelectorAll("[data-ssr-component]")];
  const serverHtml = placeholders.map((el) => el.innerHTML);
  // React adopted the server DOM once the page's first element (after any
  // hoisted <link rel="preload"> React emits for images) has a fiber.
  const mounted = (el) => {
    const first = [...el.children].find((child) => child.tagName !== "LINK");
    return Boolean(first) && Object.keys(first).some((key) => key.startsWith("__reactFiber$"));
  };
  const started = Date.now();
  while (!placeholders.every(mounted)) {
    if (Date.now() - started > 5000) {
      throw new Error(`not hydrated after 5 s; problems: ${problems.join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Give React a moment to report anything late.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { dom, document, placeholders, serverHtml, problems };
}

describe("example app: SSR + hydration in a browser (jsdom)", () => {
  for (const [route, component] of [
    ["/", "Home"],
    ["/product/kettle-01", "Product"],
    ["/cart", "Cart"],
  ]) {
    test(`${component} hydrates without errors and keeps the server DOM`, async () => {
      const { dom, document, placeholders, serverHtml, problems } = await browse(site.url + route);
      try {
        assert.deepEqual(problems, []);
        assert.equal(placeholders.length, 1);
        const [root] = placeholders;
        assert.equal(root.getAttribute("data-ssr-component"), component);
        assert.equal(root.hasAttribute("data-ssr-fallback"), false);
        assert.ok(serverHtml[0].length > 1000, "the page was rendered on the server");
        // Hydration did not re-render: the markup is still the server's.
        assert.equal(root.innerHTML, serverHtml[0]);
      } finally {
        dom.window.close();
      }
    });
  }

  test("with the service down the browser renders the fallback placeholder", async () => {
    const offline = await startSite(`http://127.0.0.1:${await freePort()}`);
    const { dom, document, placeholders, problems } = await browse(`${offline.url}/`);
    try {
      assert.deepEqual(problems, []);
      const [root] = placeholders;
      assert.equal(root.getAttribute("data-ssr-fallback"), "network_error");
      // The client bundle rendered the whole page from the props script.
      assert.match(root.textContent, /Spring collection/);
      assert.match(root.textContent, /Welcome back, Ada/);
    } finally {
      dom.window.close();
      await offline.close();
    }
  });

  test("client-rendered fallback and server render show the same page", async () => {
    const offline = await startSite(`http://127.0.0.1:${await freePort()}`);
    const ssr = await browse(`${site.url}/product/kettle-01`);
    const csr = await browse(`${offline.url}/product/kettle-01`);
    try {
      assert.deepEqual([...ssr.problems, ...csr.problems], []);
      assert.equal(csr.placeholders[0].textContent, ssr.placeholders[0].textContent);
    } finally {
      ssr.dom.window.close();
      csr.dom.window.close();
      await offline.close();
    }
  });

  test("a page whose props do not match the server HTML is reported (control)", async () => {
    const page = await (await fetch(`${site.url}/`)).text();
    const tampered = page.replace('"storeName":"Northwind Home"', '"storeName":"Southwind Home"');
    assert.notEqual(tampered, page);
    const { dom, problems } = await browse(`${site.url}/`, tampered);
    try {
      assert.ok(problems.length > 0, "the hydration mismatch must be reported");
      assert.match(problems.join("\n"), /reportError: Minified React error #418|Hydration failed/);
    } finally {
      dom.window.close();
    }
  });
});
