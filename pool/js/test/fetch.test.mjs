// Request, Response and fetch of pool/src/web.js next to Node's. In the bare
// context fetch goes through the test host, which is Node's fetch: both
// reach the same local server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { gzipSync } from "node:zlib";
import { inWeb, same } from "./harness.mjs";

const HELPERS = `
  const caught = async (fn) => {
    try { await fn(); return "no error"; } catch (e) { return [Object.prototype.toString.call(e), e.name, e.message]; }
  };
  // Headers but the ones that change from one request to the next.
  const dump = (headers) => [...headers].filter(([name]) => name !== "date" && name !== "keep-alive" && name !== "connection");
  const bytesOf = (text) => new TextEncoder().encode(text);
`;

test("Request as Node has it", async () => {
  await same(`${HELPERS}
    const show = async (r) => [r.method, r.url, r.redirect, dump(r.headers), r.body === null, r.bodyUsed,
      r.signal.aborted, Object.prototype.toString.call(r), r.body === null ? null : await r.text(), r.bodyUsed];
    await record("defaults", () => show(new Request("http://e.com/a?b#c")));
    await record("URL object", () => show(new Request(new URL("https://e.com/x"))));
    for (const method of ["get", "post", "Put", "delete", "options", "head", "patch", "PATCH", "custom", "MKCOL"]) {
      await record("method " + method, () => new Request("http://e.com/", { method }).method);
    }
    for (const method of ["connect", "TRACE", "track", "bad method", "", "é"]) {
      await record("method " + JSON.stringify(method), () => caught(() => new Request("http://e.com/", { method })));
    }
    await record("relative URL", () => caught(() => new Request("/relative")));
    await record("invalid URL", () => caught(() => new Request("http://[")));
    await record("credentials", () => caught(() => new Request("http://u:p@e.com/")));
    await record("no arguments", () => new Request());
    await record("init that is not an object", () => new Request("http://e.com/", 5));
    await record("null init", () => show(new Request("http://e.com/", null)));
    await record("redirect", () => ["follow", "error", "manual"].map((redirect) => new Request("http://e.com/", { redirect }).redirect));
    await record("bad redirect", () => new Request("http://e.com/", { redirect: "nope" }));
    await record("headers", () => show(new Request("http://e.com/", { headers: [["X-A", "1"], ["x-a", "2"], ["Accept", "*/*"]] })));
    await record("string body", () => show(new Request("http://e.com/", { method: "POST", body: "héllo" })));
    await record("content-type given", () => show(new Request("http://e.com/", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } })));
    await record("URLSearchParams body", () => show(new Request("http://e.com/", { method: "POST", body: new URLSearchParams("a=1 2&b=é") })));
    await record("ArrayBuffer body", () => show(new Request("http://e.com/", { method: "PUT", body: bytesOf("buffer").buffer })));
    await record("view body", () => show(new Request("http://e.com/", { method: "PUT", body: new DataView(bytesOf("xxviewxx").buffer, 2, 4) })));
    await record("a copied buffer", async () => {
      const bytes = bytesOf("abc");
      const r = new Request("http://e.com/", { method: "POST", body: bytes });
      bytes[0] = 122;
      return r.text();
    });
    await record("object body", () => show(new Request("http://e.com/", { method: "POST", body: { toString: () => "custom" } })));
    await record("null body", () => show(new Request("http://e.com/", { method: "POST", body: null })));
    await record("stream body without duplex", () => caught(() => new Request("http://e.com/", { method: "POST", body: new ReadableStream() })));
    await record("stream body", () => show(new Request("http://e.com/", {
      method: "POST", duplex: "half", body: new ReadableStream({ start(c) { c.enqueue(bytesOf("stream")); c.close(); } }),
    })));
    await record("GET with a body", () => caught(() => new Request("http://e.com/", { body: "x" })));
    await record("HEAD with a body", () => caught(() => new Request("http://e.com/", { method: "HEAD", body: "" })));
    await record("GET with a null body", () => new Request("http://e.com/", { body: null }).method);

    await record("from a request", async () => {
      const c = new AbortController();
      const first = new Request("http://e.com/p", { method: "POST", body: "moved", headers: { "X-H": "1" }, redirect: "manual", signal: c.signal });
      const second = new Request(first);
      c.abort("stop");
      return [first.bodyUsed, await show(second), second.signal.reason, second.signal !== first.signal];
    });
    await record("from a request, with init", async () => {
      const first = new Request("http://e.com/p", { method: "POST", body: "kept", headers: { "X-H": "1" } });
      const second = new Request(first, { method: "PUT", body: "new", headers: { "X-I": "2" }, redirect: "error" });
      return [first.bodyUsed, await first.text(), await show(second)];
    });
    await record("from a used request", async () => {
      const first = new Request("http://e.com/", { method: "POST", body: "x" });
      await first.text();
      return caught(() => new Request(first));
    });
    await record("GET from a request with a body", async () => {
      const first = new Request("http://e.com/", { method: "POST", body: "x" });
      return caught(() => new Request(first, { method: "GET" }));
    });

    await record("signal follows", () => {
      const c = new AbortController();
      const r = new Request("http://e.com/", { signal: c.signal });
      const before = [r.signal.aborted, r.signal === c.signal];
      c.abort("why");
      return [before, r.signal.aborted, r.signal.reason];
    });
    await record("aborted signal", () => { const r = new Request("http://e.com/", { signal: AbortSignal.abort("early") }); return [r.signal.aborted, r.signal.reason]; });
    await record("null signal", () => new Request("http://e.com/", { signal: null }).signal.aborted);
    await record("bad signal", () => new Request("http://e.com/", { signal: {} }));

    await record("clone", async () => {
      const c = new AbortController();
      const r = new Request("http://e.com/", { method: "POST", body: "twice", headers: { "X-A": "1" }, signal: c.signal });
      const copy = r.clone();
      copy.headers.set("X-A", "2");
      c.abort("gone");
      return [await r.text(), await copy.text(), r.headers.get("x-a"), copy.headers.get("x-a"), copy.signal.reason, copy instanceof Request];
    });
    await record("clone of a used request", async () => {
      const r = new Request("http://e.com/", { method: "POST", body: "x" });
      await r.arrayBuffer();
      return (await caught(() => r.clone())).slice(0, 2);
    });
    await record("getter on another object", () => Object.getOwnPropertyDescriptor(Request.prototype, "url").get.call(new Response()));
  `);
});

test("Response as Node has it", async () => {
  await same(`${HELPERS}
    const show = async (r) => [r.type, r.url, r.redirected, r.status, r.ok, r.statusText, dump(r.headers), r.body === null,
      r.bodyUsed, Object.prototype.toString.call(r), r.body === null ? null : await r.text(), r.bodyUsed];
    await record("defaults", () => show(new Response()));
    await record("string", () => show(new Response("héllo", { status: 201, statusText: "Created", headers: { "X-A": "1" } })));
    await record("empty string", () => show(new Response("")));
    await record("URLSearchParams", () => show(new Response(new URLSearchParams({ q: "a b" }))));
    await record("bytes", async () => { const r = new Response(bytesOf("raw")); return [dump(r.headers), await r.bytes()]; });
    await record("ArrayBuffer", async () => { const r = new Response(bytesOf("ab").buffer); return [dump(r.headers), [...new Uint8Array(await r.arrayBuffer())]]; });
    await record("number", () => show(new Response(12)));
    await record("undefined", () => show(new Response(undefined)));
    for (const status of [200, 299, 300, 404, 599, 65736, "204"]) {
      await record("status " + status, () => { const r = new Response(null, { status }); return [r.status, r.ok]; });
    }
    for (const status of [0, 100, 199, 600, 1000, -1, NaN]) {
      await record("bad status " + status, () => caught(() => new Response(null, { status })));
    }
    for (const statusText of ["OK then", "tab\\there", "caf\\u00e9"]) {
      await record("statusText " + JSON.stringify(statusText), () => new Response(null, { statusText }).statusText);
    }
    for (const statusText of ["a\\nb", "a\\rb", "a\\u0000b", "\\u0100"]) {
      await record("bad statusText " + JSON.stringify(statusText), () => new Response(null, { statusText }));
    }
    for (const status of [204, 205, 304]) {
      await record("body with status " + status, () => caught(() => new Response("x", { status })));
      await record("null body with status " + status, () => new Response(null, { status }).status);
      await record("empty body with status " + status, () => caught(() => new Response("", { status })));
    }
    await record("init that is not an object", () => new Response(null, 5));
    await record("content-type given", () => show(new Response("x", { headers: { "content-type": "text/html" } })));
    await record("headers are mutable", () => { const r = new Response(); r.headers.append("a", "b"); return dump(r.headers); });

    await record("json", async () => {
      const r = Response.json({ a: [1, "é"], b: null }, { status: 202, headers: { "X-J": "1" } });
      return [await show(r.clone()), await r.json()];
    });
    await record("json with a content-type", () => dump(Response.json(1, { headers: { "content-type": "text/x" } }).headers));
    await record("json of undefined", () => caught(() => Response.json(undefined)));
    await record("json of a function", () => caught(() => Response.json(() => {})));
    await record("json of a BigInt", () => Response.json(1n));
    await record("json with a bad status", () => Response.json({}, { status: 700 }));
    await record("error", () => show(Response.error()));
    await record("error headers are immutable", () => Response.error().headers.append("a", "b"));
    await record("redirect", () => show(Response.redirect("http://e.com/a b")));
    await record("redirect 307", () => show(Response.redirect(new URL("https://e.com/"), 307)));
    await record("redirect headers are immutable", () => Response.redirect("http://e.com/").headers.set("a", "b"));
    await record("redirect with a bad status", () => caught(() => Response.redirect("http://e.com/", 200)));
    await record("redirect to a relative URL", () => caught(() => Response.redirect("/relative")));
    await record("statics", () => ["error", "json", "redirect"].map((name) => [typeof Response[name], Response[name].length]));

    await record("text twice", async () => { const r = new Response("once"); await r.text(); return caught(() => r.text()); });
    await record("null body twice", async () => { const r = new Response(null); return [await r.text(), await r.text(), r.bodyUsed]; });
    await record("bad JSON", async () => (await caught(() => new Response("{").json()))[1]);
    await record("BOM", () => new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff])).text());
    await record("body stream", async () => {
      const r = new Response("stream me");
      const body = r.body;
      const reader = body.getReader();
      const before = r.bodyUsed;
      const chunks = [];
      for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(new TextDecoder().decode(next.value));
      return [before, r.bodyUsed, body === r.body, chunks.join(""), Object.prototype.toString.call(body)];
    });
    await record("locked body", async () => { const r = new Response("x"); r.body.getReader(); return [r.bodyUsed, await caught(() => r.text())]; });
    await record("BYOB read", async () => {
      const reader = new Response("abcdef").body.getReader({ mode: "byob" });
      const { value } = await reader.read(new Uint8Array(4));
      return new TextDecoder().decode(value);
    });
    await record("BYOB read of an empty body", async () => {
      const { done } = await new Response("").body.getReader({ mode: "byob" }).read(new Uint8Array(4));
      return done;
    });
    await record("stream body", async () => {
      const r = new Response(new ReadableStream({ start(c) { c.enqueue(bytesOf("a")); c.enqueue(bytesOf("bc")); c.close(); } }));
      return [r.bodyUsed, await r.text(), r.bodyUsed];
    });
    await record("stream body is the stream", () => { const s = new ReadableStream(); return new Response(s).body === s; });
    await record("stream of strings", async () => (await caught(() => new Response(new ReadableStream({ start(c) { c.enqueue("x"); c.close(); } })).text()))[1]);
    await record("errored stream", async () => caught(() => new Response(new ReadableStream({ start(c) { c.error(new RangeError("broken")); } })).text()));
    await record("locked stream", async () => { const s = new ReadableStream(); s.getReader(); return (await caught(() => new Response(s))).slice(0, 2); });
    await record("disturbed stream", async () => {
      const s = new ReadableStream({ pull(c) { c.enqueue(bytesOf("x")); } });
      await s.getReader().read();
      return (await caught(() => new Response(s)))[1];
    });
    await record("arrayBuffer and bytes are copies", async () => {
      const r = new Response("abc");
      const copy = r.clone();
      const buffer = await r.arrayBuffer();
      new Uint8Array(buffer)[0] = 122;
      return [buffer.byteLength, await copy.text()];
    });

    await record("clone", async () => {
      const r = new Response("shared", { headers: { "X-A": "1" } });
      const copy = r.clone();
      copy.headers.set("X-A", "2");
      return [await r.text(), await copy.text(), r.headers.get("x-a"), copy.headers.get("x-a")];
    });
    await record("clone of a stream body", async () => {
      const r = new Response(new ReadableStream({ start(c) { c.enqueue(bytesOf("tee")); c.close(); } }));
      const copy = r.clone();
      return [await copy.text(), await r.text()];
    });
    await record("clone after asking for the stream", async () => {
      const r = new Response("lazy");
      r.body;
      const copy = r.clone();
      return [await r.text(), await copy.text()];
    });
    await record("clone of a used response", async () => { const r = new Response("x"); await r.text(); return caught(() => r.clone()); });
    await record("clone of an error", () => show(Response.error().clone()));
    await record("clone keeps immutable headers", () => Response.error().clone().headers.append("a", "b"));
    await record("body methods on another object", () => caught(() => Response.prototype.text.call({})));
    await record("body getter on another object", () => Object.getOwnPropertyDescriptor(Response.prototype, "body").get.call({}));
  `);
});

test("Request and Response have Node's interface, as far as web.js has it", async () => {
  await same(`
    // What web.js does not have, and "attribute", which Node 20 has by mistake.
    const SKIPPED = ["attribute", "destination", "referrer", "referrerPolicy", "mode", "credentials", "cache", "integrity", "keepalive",
      "isReloadNavigation", "isHistoryNavigation", "duplex", "blob", "formData"];
    const shape = (object) => Object.getOwnPropertyNames(object).filter((name) => !SKIPPED.includes(name)).sort().map((name) => {
      const d = Object.getOwnPropertyDescriptor(object, name);
      return [name, d.enumerable, d.configurable, typeof d.get, typeof d.set, typeof d.value];
    });
    await record("Request.prototype", () => shape(Request.prototype));
    await record("Response.prototype", () => shape(Response.prototype));
    await record("lengths", () => [Request.length, Response.length, fetch.length, fetch.name]);
  `);
});

let server;
let base;
let refused;

before(async () => {
  server = http.createServer(route);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  // A port nothing listens on: one that was just freed.
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
  refused = `http://127.0.0.1:${closed.address().port}/`;
  await new Promise((resolve) => closed.close(resolve));
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function route(req, res) {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const path = req.url.split("?")[0];
    switch (path) {
      case "/json":
        res.writeHead(200, { "content-type": "application/json", "x-custom": "yes", "set-cookie": ["a=1", "b=2"] });
        res.end(JSON.stringify({ hello: "wörld", n: 1 }));
        return;
      case "/echo":
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({
          method: req.method,
          url: req.url,
          body: body.toString("utf8"),
          headers: Object.fromEntries(["content-type", "x-test", "accept"].map((name) => [name, req.headers[name] ?? null])),
        }));
        return;
      case "/bytes":
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
        return;
      case "/gzip":
        res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" });
        res.end(gzipSync("compressed text"));
        return;
      case "/redirect":
        res.writeHead(302, { location: "/json?from=redirect" });
        res.end();
        return;
      case "/redirect-twice":
        res.writeHead(301, { location: `${base}/redirect` });
        res.end();
        return;
      case "/missing":
        res.writeHead(404, "Not Here", { "content-type": "text/plain" });
        res.end("no such thing");
        return;
      case "/empty":
        res.writeHead(204);
        res.end();
        return;
      case "/slow": {
        // Answers after a second, unless the client goes away first.
        const timer = setTimeout(() => res.end("late"), 1000);
        res.on("close", () => clearTimeout(timer));
        return;
      }
      default:
        res.writeHead(500);
        res.end();
    }
  });
}

test("fetch from a local server as Node's fetch does", async () => {
  await same(`${HELPERS}
    const base = ${JSON.stringify(base)};
    const show = async (r) => [r.type, r.url, r.redirected, r.status, r.ok, r.statusText, dump(r.headers), r.body === null,
      r.bodyUsed, Object.prototype.toString.call(r)];
    await record("json", async () => { const r = await fetch(base + "/json"); return [await show(r), await r.json(), r.bodyUsed]; });
    await record("text", async () => { const r = await fetch(new URL("/json", base)); return r.text(); });
    await record("set-cookie", async () => (await fetch(base + "/json")).headers.getSetCookie());
    await record("bytes", async () => { const r = await fetch(base + "/bytes"); const b = await r.bytes(); return [b.length, b[0], b[255], b instanceof Uint8Array]; });
    await record("arrayBuffer", async () => { const b = await (await fetch(base + "/bytes")).arrayBuffer(); return [b.byteLength, b instanceof ArrayBuffer]; });
    await record("body stream", async () => {
      const r = await fetch(base + "/json");
      let length = 0;
      for await (const chunk of r.body) length += chunk.byteLength;
      return [length, r.bodyUsed];
    });
    await record("clone", async () => { const r = await fetch(base + "/json"); const c = r.clone(); return [await r.text(), await c.json(), await show(c)]; });
    await record("headers are immutable", async () => (await caught(async () => (await fetch(base + "/json")).headers.set("x", "y"))).slice(0, 2));
    await record("gzip", async () => { const r = await fetch(base + "/gzip"); return [await r.text(), r.headers.get("content-encoding")]; });
    await record("404 resolves", async () => { const r = await fetch(base + "/missing"); return [await show(r), await r.text()]; });
    await record("204", async () => { const r = await fetch(base + "/empty"); return [await show(r), await r.text()]; });
    await record("HEAD", async () => { const r = await fetch(base + "/json", { method: "HEAD" }); return [await show(r), await r.text()]; });
    await record("redirect followed", async () => { const r = await fetch(base + "/redirect-twice#frag"); return [await show(r), await r.json()]; });
    await record("redirect manual", async () => show(await fetch(base + "/redirect", { redirect: "manual" })));
    await record("redirect error", async () => (await caught(() => fetch(base + "/redirect", { redirect: "error" })))[1]);

    await record("POST text", async () => (await fetch(base + "/echo?q=1", { method: "POST", body: "héllo", headers: { "X-Test": "t", Accept: "text/plain" } })).json());
    await record("POST JSON", async () => (await fetch(base + "/echo", { method: "POST", body: JSON.stringify({ a: 1 }), headers: { "content-type": "application/json" } })).json());
    await record("POST form", async () => (await fetch(base + "/echo", { method: "POST", body: new URLSearchParams({ q: "a b&c" }) })).json());
    await record("PUT bytes", async () => (await fetch(base + "/echo", { method: "PUT", body: bytesOf("raw bytes") })).json());
    await record("POST stream", async () => (await fetch(base + "/echo", {
      method: "POST", duplex: "half",
      body: new ReadableStream({ start(c) { c.enqueue(bytesOf("str")); c.enqueue(bytesOf("eam")); c.close(); } }),
    })).json());
    await record("custom method", async () => (await fetch(base + "/echo", { method: "PATCH", body: "p" })).json());
    await record("a Request", async () => {
      const request = new Request(base + "/echo", { method: "POST", body: "from a request", headers: { "X-Test": "r" } });
      const r = await fetch(request);
      return [await r.json(), request.bodyUsed];
    });
    await record("a Request with init", async () => (await fetch(new Request(base + "/echo"), { method: "DELETE" })).json());

    await record("connection refused", async () => {
      const p = fetch(${JSON.stringify(refused)});
      return [p instanceof Promise, (await caught(() => p)).slice(0, 2)];
    });
    await record("invalid URL rejects", async () => { const p = fetch("nope"); return [p instanceof Promise, await caught(() => p)]; });
    await record("relative URL rejects", () => caught(() => fetch("/json")));
    await record("GET with a body rejects", () => caught(() => fetch(base + "/echo", { body: "x" })));
    await record("used body rejects", async () => {
      const request = new Request(base + "/echo", { method: "POST", body: "x" });
      await request.text();
      return (await caught(() => fetch(request))).slice(0, 2);
    });

    await record("abort before", () => caught(() => fetch(base + "/json", { signal: AbortSignal.abort() })));
    await record("abort before, with a reason", async () => {
      try { await fetch(base + "/json", { signal: AbortSignal.abort("mine") }); } catch (e) { return e; }
    });
    await record("abort during", async () => {
      const c = new AbortController();
      setTimeout(() => c.abort(), 50);
      const error = await fetch(base + "/slow", { signal: c.signal }).catch((e) => e);
      return [error.name, error.message, error.code, error instanceof DOMException, error === c.signal.reason];
    });
    await record("abort during, with a reason", async () => {
      const c = new AbortController();
      const why = new RangeError("custom");
      setTimeout(() => c.abort(why), 50);
      return (await fetch(base + "/slow", { signal: c.signal }).catch((e) => e)) === why;
    });
    await record("timeout", async () => {
      setTimeout(() => {}, 200); // Node's timeout timer does not keep its event loop alive
      return caught(() => fetch(base + "/slow", { signal: AbortSignal.timeout(50) }));
    });
    await record("abort after the response", async () => {
      const c = new AbortController();
      const r = await fetch(base + "/json", { signal: c.signal });
      const text = await r.text();
      c.abort();
      return [text.length, r.bodyUsed];
    });
  `);
});

// What the host is given, and what fetch makes of what the host does.
test("fetch and the host", async () => {
  const requests = [];
  let aborts = 0;
  const bytes = (text) => new TextEncoder().encode(text);
  const settled = (record) => ({ promise: Promise.resolve(record), abort: () => aborts++ });
  const host = {
    fetch(request) {
      requests.push({ ...request, headers: Array.from(request.headers, ([name, value]) => [name, value]), body: request.body && new TextDecoder().decode(request.body) });
      switch (new URL(request.url).pathname) {
        case "/ok":
          return settled({
            status: 203, statusText: "Fine", url: "http://final.example/x?y#frag", redirected: true,
            headers: [["Set-Cookie", "a=1"], ["X-Y", "1"], ["set-cookie", "b=2"], ["x-y", "2"]], body: bytes("payload"),
          });
        case "/no-content":
          return settled({ status: 204, statusText: "", url: request.url, redirected: false, headers: [], body: bytes("") });
        case "/refused":
          return { promise: Promise.reject(new TypeError("origin not allowed")), abort: () => aborts++ };
        case "/throws":
          throw new TypeError("host failure");
        default:
          return { promise: new Promise(() => {}), abort: () => aborts++ };
      }
    },
  };
  const results = await inWeb(`
    await record("response", async () => {
      const r = await fetch("http://origin.example/ok#here", {
        method: "post", body: "x", redirect: "manual", headers: [["X-B", "1"], ["x-b", "2"], ["Accept", "*/*"]],
      });
      return [r.type, r.status, r.statusText, r.ok, r.url, r.redirected, [...r.headers], r.headers.getSetCookie(), await r.text()];
    });
    await record("HEAD", async () => (await fetch("http://origin.example/ok", { method: "HEAD" })).body);
    await record("204", async () => (await fetch("http://origin.example/no-content")).body);
    await record("rejected", async () => { try { await fetch("http://origin.example/refused"); } catch (e) { return [e.name, e.message]; } });
    await record("host throws", async () => { try { await fetch("http://origin.example/throws"); } catch (e) { return [e.name, e.message]; } });
    await record("aborted", async () => {
      const c = new AbortController();
      const p = fetch("http://origin.example/never", { signal: c.signal });
      await new Promise((resolve) => setTimeout(resolve, 10));
      c.abort();
      try { await p; } catch (e) { return [e.name, e === c.signal.reason]; }
    });
    await record("aborted before", async () => {
      try { await fetch("http://origin.example/never", { signal: AbortSignal.abort("no") }); } catch (e) { return e; }
    });
  `, host);
  assert.deepEqual(results, [
    ["response", ["basic", 203, "Fine", true, "http://final.example/x?y", true,
      [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-y", "1, 2"]], ["a=1", "b=2"], "payload"]],
    ["HEAD", null],
    ["204", null],
    ["rejected", ["TypeError", "origin not allowed"]],
    ["host throws", ["TypeError", "host failure"]],
    ["aborted", ["AbortError", true]],
    ["aborted before", "no"],
  ]);
  assert.deepEqual(requests.map((r) => [r.method, r.url, r.headers, r.body, r.redirect]), [
    ["POST", "http://origin.example/ok#here", [["accept", "*/*"], ["content-type", "text/plain;charset=UTF-8"], ["x-b", "1, 2"]], "x", "manual"],
    ["HEAD", "http://origin.example/ok", [["accept", "*/*"]], null, "follow"],
    ["GET", "http://origin.example/no-content", [["accept", "*/*"]], null, "follow"],
    ["GET", "http://origin.example/refused", [["accept", "*/*"]], null, "follow"],
    ["GET", "http://origin.example/throws", [["accept", "*/*"]], null, "follow"],
    ["GET", "http://origin.example/never", [["accept", "*/*"]], null, "follow"],
  ]);
  assert.equal(aborts, 1, "the host's request is aborted once; none is made for a signal aborted before");
});
