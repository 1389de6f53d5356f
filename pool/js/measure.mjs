// Size of pool/src/web.js and the time to evaluate it and install its
// globals (its function called with a host: an empty one, as installing
// calls no host function) in a fresh V8 context, which every isolate and
// every fresh context pays before the bundle. Medians of 20: in a new
// isolate (a worker thread: the source compiled and evaluated in its first
// context, as a new pool isolate does without a code cache), and in new
// contexts of one isolate, compiled each time or evaluated from one
// compiled script (--fresh-context).
//
//   node pool/js/measure.mjs
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import vm from "node:vm";
import { Worker } from "node:worker_threads";
import { outFile } from "./build.mjs";

const RUNS = 20;
const code = readFileSync(outFile, "utf8");
const newContext = () => vm.createContext(vm.constants?.DONT_CONTEXTIFY ?? {});
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
};
const time = (fn) => {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
};

// One new isolate per run: the worker times its own first compile and run.
const WORKER = `
  const { parentPort, workerData } = require("node:worker_threads");
  const vm = require("node:vm");
  const context = vm.createContext(vm.constants?.DONT_CONTEXTIFY ?? {});
  const start = process.hrtime.bigint();
  new vm.Script(workerData, { filename: "web.js" }).runInContext(context)({});
  parentPort.postMessage(Number(process.hrtime.bigint() - start) / 1e6);
`;
const newIsolate = [];
for (let i = 0; i < RUNS; i++) {
  newIsolate.push(
    await new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: code });
      worker.once("message", resolve);
      worker.once("error", reject);
    }),
  );
}

const compileAndRun = [];
for (let i = 0; i < RUNS; i++) {
  const context = newContext();
  compileAndRun.push(time(() => new vm.Script(code, { filename: `web-${i}.js` }).runInContext(context)({})));
}
const script = new vm.Script(code, { filename: "web.js" });
const runOnly = [];
for (let i = 0; i < RUNS; i++) {
  const context = newContext();
  runOnly.push(time(() => script.runInContext(context)({})));
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`pool/src/web.js: ${Buffer.byteLength(code)} bytes (${kib(Buffer.byteLength(code))}, ${kib(gzipSync(code).length)} gzipped)`);
console.log(`new isolate, compile + evaluate: median ${median(newIsolate).toFixed(2)} ms of ${RUNS}`);
console.log(`fresh context, compile + evaluate: median ${median(compileAndRun).toFixed(2)} ms of ${RUNS} (first ${compileAndRun[0].toFixed(2)} ms)`);
console.log(`fresh context, evaluate a compiled script: median ${median(runOnly).toFixed(2)} ms of ${RUNS} (first ${runOnly[0].toFixed(2)} ms)`);
console.log(`node ${process.version}, V8 ${process.versions.v8}`);
