#!/usr/bin/env node
// Runs tests/streams/scenarios.js under Node and prints the scenario logs as JSON.
//
//   node tests/streams/run_in_node.js                      Node's native web streams (reference)
//   node tests/streams/run_in_node.js --polyfill BUNDLE    a fresh vm context with only V8 builtins
//                                                          plus setTimeout/clearTimeout/
//                                                          queueMicrotask/console, after calling the
//                                                          bundle `(function (global) {...})` with
//                                                          the context's globalThis
//   --only SUBSTRING                                       run only scenarios whose name contains it
//   --no-array-buffer-transfer                             (with --polyfill) keep Node 20's default V8
//                                                          builtins, which lack ES2024
//                                                          ArrayBuffer.prototype.transfer/detached
//
// With --polyfill, the context's Intl is removed (the engines have none), and
// ArrayBuffer.prototype.transfer and .detached are enabled in the context (V8 flag
// --harmony-rab-gsab-transfer, off by default in Node 20's V8 11.3). Both jscell engines have them
// (V8 15.2 and QuickJS-ng 0.16.2), and a JS implementation of streams needs them to detach buffers
// as the spec requires: without them web-streams-polyfill silently skips the transfer.
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

function usage(msg) {
  if (msg) process.stderr.write(msg + "\n");
  process.stderr.write("usage: node run_in_node.js [--polyfill bundle.js [--no-array-buffer-transfer]] [--only substring]\n");
  process.exit(2);
}

let bundlePath = null;
let only = null;
let abTransfer = true;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--polyfill") {
    bundlePath = argv[++i];
    if (!bundlePath) usage("--polyfill needs a file");
  } else if (argv[i] === "--no-array-buffer-transfer") {
    abTransfer = false;
  } else if (argv[i] === "--only") {
    only = argv[++i];
    if (only === undefined) usage("--only needs a substring");
  } else {
    usage("unknown argument " + argv[i]);
  }
}

const scenariosFile = path.join(__dirname, "scenarios.js");
const scenariosSrc = fs.readFileSync(scenariosFile, "utf8");
// The scenario script's last expression hands back what we need from its (script-scoped) bindings.
const tail =
  "\n;(function (only) {\n" +
  "  if (only !== null) STREAM_SCENARIOS.splice(0, STREAM_SCENARIOS.length, ...STREAM_SCENARIOS.filter((s) => s.name.includes(only)));\n" +
  "  return runStreamScenarios;\n" +
  "})";

// A scenario that forgets a rejection must not kill the run; report it on stderr.
process.on("unhandledRejection", (reason) => {
  let d;
  try {
    d = reason && typeof reason === "object" ? reason.name + ": " + reason.message : String(reason);
  } catch (e) {
    d = "?";
  }
  process.stderr.write("warning: unhandled rejection: " + d + "\n");
});

async function main() {
  let run;
  if (bundlePath === null) {
    run = vm.runInThisContext(scenariosSrc + tail, { filename: scenariosFile })(only);
  } else {
    // Harmony flags take effect for contexts created afterwards.
    if (abTransfer) require("v8").setFlagsFromString("--harmony-rab-gsab-transfer");
    const ctx = vm.createContext({});
    if (abTransfer && vm.runInContext("typeof ArrayBuffer.prototype.transfer", ctx) !== "function") {
      process.stderr.write("warning: could not enable ArrayBuffer.prototype.transfer in the context\n");
    }
    const g = vm.runInContext("globalThis", ctx);
    // The jscell engines have no Intl; remove V8's so that a bundle cannot come to depend on it.
    vm.runInContext("delete globalThis.Intl", ctx);
    for (const name of ["setTimeout", "clearTimeout", "queueMicrotask", "console"]) {
      Object.defineProperty(g, name, { value: globalThis[name], writable: true, configurable: true, enumerable: false });
    }
    const bundleFile = path.resolve(bundlePath);
    const install = vm.runInContext(fs.readFileSync(bundleFile, "utf8"), ctx, { filename: bundleFile });
    if (typeof install !== "function") throw new Error("bundle did not evaluate to a function");
    install(g);
    run = vm.runInContext(scenariosSrc + tail, ctx, { filename: scenariosFile })(only);
  }
  const results = await run();
  process.stdout.write(JSON.stringify(results, null, 1) + "\n");
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write("run_in_node: " + (e && e.stack ? e.stack : String(e)) + "\n");
    process.exit(1);
  }
);
