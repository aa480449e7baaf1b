#!/usr/bin/env node
// Compares the scenario logs of Node's native web streams with those of a bundle.
//
//   node tests/streams/compare.js BUNDLE [--only SUBSTRING]
//
// Prints every mismatching scenario with both logs and a summary line "N/M scenarios match";
// exits 1 on any mismatch (or missing scenario), 2 if a run fails.
"use strict";

const path = require("path");
const { execFileSync } = require("child_process");

const args = process.argv.slice(2);
const bundle = args[0];
if (!bundle || bundle.startsWith("--")) {
  process.stderr.write("usage: node compare.js bundle.js [--only substring]\n");
  process.exit(2);
}
const extra = args.slice(1);
const runner = path.join(__dirname, "run_in_node.js");

function run(label, runnerArgs) {
  try {
    const out = execFileSync(process.execPath, [runner, ...runnerArgs, ...extra], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["ignore", "pipe", "inherit"],
    });
    return JSON.parse(out);
  } catch (e) {
    process.stderr.write(label + " run failed: " + (e && e.message) + "\n");
    process.exit(2);
  }
}

const native = run("native", []);
const poly = run("bundle", ["--polyfill", path.resolve(bundle)]);

const names = Object.keys(native);
for (const n of Object.keys(poly)) if (!(n in native)) names.push(n);

let matches = 0;
for (const name of names) {
  const a = native[name];
  const b = poly[name];
  if (a && b && a.length === b.length && a.every((x, i) => x === b[i])) {
    matches++;
    continue;
  }
  process.stdout.write("MISMATCH: " + name + "\n");
  const len = Math.max(a ? a.length : 0, b ? b.length : 0);
  let first = -1;
  for (let i = 0; i < len; i++) {
    if (!a || !b || a[i] !== b[i]) {
      first = i;
      break;
    }
  }
  const show = (label, log) => {
    process.stdout.write("  " + label + (log ? "" : " (missing)") + "\n");
    (log || []).forEach((x, i) => process.stdout.write((i === first ? "  > " : "    ") + x + "\n"));
  };
  show("node:", a);
  show("bundle:", b);
  process.stdout.write("\n");
}
process.stdout.write(matches + "/" + names.length + " scenarios match\n");
process.exit(matches === names.length ? 0 : 1);
