// POST /batch of the service against the reference Hypernova server (npm
// `hypernova` 2.5.0), both rendering the same bundle: the same requests must
// get the same answers, with durations, the stack frames of either server's
// own code and client-made uuids normalised away (helpers/normalise.mjs).
//
// Both servers run for the whole file; the bundle is hypernova.js,
// throw-values.js and basic.js from tests/fixtures, one after another. The
// service binary is $SSR_POOL_BIN (default: target/debug/ssr-pool of the
// repository). No request here makes the reference server exit: a thrown
// object whose `message` getter throws (ThrowGetter) or a job that is `null`
// would.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";

import { comparable, normaliseBatch, withoutDurations, withoutUuids } from "./helpers/normalise.mjs";
import { combinedBundle, send, serviceBin, startReference, startService } from "./helpers/servers.mjs";

const require = createRequire(import.meta.url);
const Renderer = require("hypernova-client");

// hypernova-client's HTTP library (axios 0.15) sends every request through
// $http_proxy when set and knows no exceptions for local addresses.
for (const name of ["http_proxy", "HTTP_PROXY"]) delete process.env[name];

const JSON_TYPE = { "Content-Type": "application/json" };
const LIMIT = 1_024_000; // the reference's body-parser limit, in bytes

let reference;
let service;

/** A JSON object text with the entries in exactly this order (keys may repeat). */
function objectText(entries) {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`;
}

function batch(body, headers = JSON_TYPE) {
  return { method: "POST", path: "/batch", headers, body };
}

/** Sends `request` to both servers; returns both raw replies. */
async function both(request) {
  const ref = await send(reference.url, request);
  const svc = await send(service.url, request);
  return { ref, svc };
}

/** Sends `request` to both servers and asserts the normalised answers match. */
async function assertParity(request) {
  const { ref, svc } = await both(request);
  assert.deepStrictEqual(comparable(svc), comparable(ref), "service answer (actual) vs reference answer (expected)");
  return ref;
}

/** A batch body of exactly `size` bytes: one Hello job padded with an unused prop. */
function paddedBody(size) {
  const head = '{"big":{"name":"Hello","data":{"name":"big","pad":"';
  const tail = '"}}}';
  const body = head + "x".repeat(size - head.length - tail.length) + tail;
  assert.equal(Buffer.byteLength(body), size);
  return body;
}

describe(`POST /batch: ${serviceBin} against the reference Hypernova server`, { timeout: 180_000 }, () => {
  before(async () => {
    // basic.js last: its Hello is the one both servers render.
    const bundle = combinedBundle("hypernova", "throw-values", "basic");
    // Each is kept as soon as it runs, so `after` stops it even when the
    // other fails to start.
    const started = await Promise.allSettled([
      startReference(bundle).then((server) => (reference = server)),
      startService(bundle).then((server) => (service = server)),
    ]);
    for (const { status, reason } of started) if (status === "rejected") throw reason;
  });

  after(async () => {
    await Promise.all([reference?.stop(), service?.stop()]);
  });

  test("a success, an unknown component and a throwing component", async () => {
    const ref = await assertParity(
      batch(
        objectText([
          ["ok", { name: "Hello", data: { name: "nova" }, metadata: { x: 1 } }],
          ["unicode", { name: "Unicode", data: { text: "ünïcødé \u2028 </script> 😀" } }],
          ["missing", { name: "NotThere", data: {} }],
          ["throws", { name: "Throws", data: {} }],
        ]),
      ),
    );
    const { results } = JSON.parse(ref.body);
    assert.equal(results.ok.statusCode, 200);
    assert.equal(results.missing.statusCode, 404);
    assert.equal(results.throws.statusCode, 500);
  });

  test("a thrown string (not an Error)", async () => {
    await assertParity(batch(objectText([["s", { name: "ThrowString", data: {} }]])));
  });

  test("a thrown number", async () => {
    await assertParity(batch(objectText([["n", { name: "ThrowNumber", data: {} }]])));
  });

  for (const name of ["ThrowNull", "ThrowUndefined"]) {
    test(`a thrown ${name.slice("Throw".length).toLowerCase()} is a failed job without an error object`, async () => {
      const ref = await assertParity(batch(objectText([["t", { name, data: {} }]])));
      const job = JSON.parse(ref.body).results.t;
      assert.equal(job.statusCode, 500);
      assert.equal(job.error, null);
    });
  }

  test("several tokens of every style in mixed order", async () => {
    const tokens = [
      "header",
      "10",
      "7d9f8a1e-3c2b-4f6a-9e8d-1a2b3c4d5e6f",
      "2",
      "0",
      "01",
      "footer",
      "1",
      "-1",
      "4294967295",
      "4294967294",
    ];
    const components = ["Hello", "NotThere", "Throws", "ThrowString", "Counter"];
    const entries = tokens.map((token, i) => [
      token,
      { name: components[i % components.length], data: { name: `job ${i}`, start: i } },
    ]);
    const ref = await assertParity(batch(objectText(entries)));
    // JavaScript's own key order: array indices ascending, then the rest.
    assert.deepEqual(Object.keys(JSON.parse(ref.body).results), [
      "0",
      "1",
      "2",
      "10",
      "4294967294",
      "header",
      "7d9f8a1e-3c2b-4f6a-9e8d-1a2b3c4d5e6f",
      "01",
      "footer",
      "-1",
      "4294967295",
    ]);
  });

  test("a repeated token keeps its first place and renders its last job", async () => {
    await assertParity(
      batch(
        objectText([
          ["a", { name: "Hello", data: { name: "first" } }],
          ["b", { name: "Hello", data: { name: "b" } }],
          ["a", { name: "Hello", data: { name: "last" } }],
        ]),
      ),
    );
  });

  test("an array of jobs", async () => {
    await assertParity(
      batch(JSON.stringify([{ name: "Hello", data: { name: "array" } }, { name: "NotThere" }, { name: "Throws" }])),
    );
  });

  test("a job without data", async () => {
    await assertParity(batch(objectText([["nodata", { name: "Hello" }]])));
  });

  test("a job with a number as name", async () => {
    await assertParity(batch(objectText([["numeric", { name: 7, data: {} }]])));
  });

  test("a job without a name", async () => {
    await assertParity(batch(objectText([["noname", { data: {} }]])));
  });

  // What Hypernova calls "no HTML": the job fails with 500 and the same
  // error object (a TypeError without a stack, serialised as a non-Error).
  for (const [name, what] of [
    ["Empty", "an empty string"],
    ["Null", "null"],
    ["Undefined", "undefined"],
    ["Nothing", "a React tree rendering nothing (empty string)"],
    ["AsyncEmpty", "a Promise of an empty string"],
  ]) {
    test(`render returning ${what} is a failed job`, async () => {
      const ref = await assertParity(
        batch(objectText([["ok", { name: "Hello", data: {} }], ["none", { name, data: {} }]])),
      );
      const job = JSON.parse(ref.body).results.none;
      assert.equal(job.statusCode, 500);
      assert.equal(job.success, false);
      assert.equal(job.html, null);
    });
  }

  for (const chunked of [false, true]) {
    const how = chunked ? " sent in chunks" : "";
    test(`a body of exactly ${LIMIT} bytes${how} is rendered`, async () => {
      const ref = await assertParity({ ...batch(paddedBody(LIMIT)), chunked });
      assert.equal(ref.status, 200);
    });

    test(`a body of ${LIMIT + 1} bytes${how} is 413 with an empty body`, async () => {
      const ref = await assertParity({ ...batch(paddedBody(LIMIT + 1)), chunked });
      assert.equal(ref.status, 413);
      assert.equal(ref.body, "");
    });
  }

  test("an empty body sent as application/json is an empty batch", async () => {
    const ref = await assertParity(batch(""));
    assert.equal(ref.status, 200);
    assert.equal(ref.body, '{"success":true,"error":null,"results":{}}');
  });

  test("an empty object is an empty batch", async () => {
    await assertParity(batch("{}"));
  });

  for (const body of ["{nope", '{"a": }', "[1,", '"a string"', "42", "null", "true"]) {
    test(`malformed or non-object JSON ${JSON.stringify(body)} is 400 with an empty body`, async () => {
      const ref = await assertParity(batch(body));
      assert.equal(ref.status, 400);
      assert.equal(ref.body, "");
    });
  }

  test("the Content-Type of answers", async () => {
    // The 413 answer's headers are part of the oversized-body test.
    const requests = {
      ok: batch(objectText([["a", { name: "Hello", data: {} }]])),
      failedJob: batch(objectText([["a", { name: "Throws", data: {} }]])),
      malformed: batch("{nope"),
    };
    const seen = {};
    for (const [what, request] of Object.entries(requests)) {
      const { ref, svc } = await both(request);
      seen[what] = { reference: ref.headers["content-type"] ?? null, service: svc.headers["content-type"] ?? null };
    }
    assert.equal(seen.ok.reference, "application/json; charset=utf-8");
    assert.deepEqual(
      Object.fromEntries(Object.entries(seen).map(([what, types]) => [what, types.service])),
      Object.fromEntries(Object.entries(seen).map(([what, types]) => [what, types.reference])),
    );
  });

  describe("through hypernova-client", () => {
    const jobs = {
      Hello: { name: "client" },
      NotThere: { any: "thing" },
      Throws: {},
      ThrowString: {},
      Unicode: { text: "--> ünïcødé" },
    };

    function renderer(server, plugins, path = "/batch") {
      return new Renderer({ url: `${server.url}${path}`, plugins, config: { timeout: 60_000 } });
    }

    test("the HTML it gives back", async () => {
      const ref = await renderer(reference).render(jobs);
      const svc = await renderer(service).render(jobs);
      assert.equal(typeof ref, "string");
      assert.match(ref, /Hello, <!-- -->client<!-- -->!/);
      assert.equal(withoutUuids(svc), withoutUuids(ref));
    });

    test("pointed at an app's batch URL, the same HTML", async () => {
      // The service serves each app at /apps/{app}/batch; `default` is the
      // bundle it started with, which the reference serves at /batch.
      const ref = await renderer(reference).render(jobs);
      const svc = await renderer(service, [], "/apps/default/batch").render(jobs);
      assert.equal(withoutUuids(svc), withoutUuids(ref));
    });

    test("what its plugins see", async () => {
      async function run(server) {
        const seen = { willSendRequest: [], onError: [], onSuccess: [] };
        const plugin = {
          willSendRequest: (jobsHash) => seen.willSendRequest.push(jobsHash),
          onError: (error, detail) =>
            seen.onError.push({
              // A job's error (a plain object from the answer), or the
              // request's failure (an Error) when it fell back.
              error: error instanceof Error ? `${error.name}: ${error.message}` : error,
              job: detail?.job ?? null,
            }),
          onSuccess: (successful) => seen.onSuccess.push(successful),
          afterResponse: (_next, results) => results,
        };
        const results = await renderer(server, [plugin]).render(jobs);
        const text = withoutUuids(withoutDurations(JSON.stringify({ results, seen })));
        const value = JSON.parse(text);
        value.results = normaliseBatch({ results: value.results }).results;
        value.seen.onError = value.seen.onError.map(({ error, job }) => ({
          error: normaliseBatch({ error }).error,
          job,
        }));
        return value;
      }
      const ref = await run(reference);
      const svc = await run(service);
      assert.equal(ref.results.Hello.statusCode, 200);
      assert.equal(ref.seen.onError.length, 3);
      assert.deepStrictEqual(svc, ref);
    });
  });
});
