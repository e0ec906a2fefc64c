#!/usr/bin/env node
// A namespace import: a named import of something an old Node lacks would fail before the
// version check below could say why.
import * as nodeModule from "node:module";
import { capYoungGeneration, startFlags, unsupportedNode } from "../dist/cli/runtime.js";

const tooOld = unsupportedNode(process.versions.node, process.execPath);
if (tooOld) {
  process.stderr.write(`clawback: ${tooOld}\n`);
  process.exit(1);
}
// Some V8 flags only take effect when node starts (see startFlags): node replaces itself with one
// started with them, before anything else loads. Where it cannot (Windows), it runs as started.
const flags = startFlags(process.argv.slice(2), process.execArgv);
if (flags.length > 0 && typeof process.execve === "function") {
  try {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)], process.env);
  } catch {
    // Not restarted (the flags only make it faster): run as started.
  }
}
// The young generation's size is capped at run time instead (see capYoungGeneration).
capYoungGeneration(process.argv.slice(2));
// V8 keeps the compiled CLI on disk (in the system's temporary folder), so every run after the
// first skips compiling it: a tenth of a no-change commit's time.
nodeModule.enableCompileCache();
const { main } = await import("../dist/cli/main.js");

process.exitCode = await main(process.argv.slice(2));
