#!/usr/bin/env node
// Builds the WebAssembly kernels: wasm/assembly/<name>.ts -> wasm/build/<name>.wasm, for the FastCDC
// kernel (fastcdc) and the page-group hash (grouphash).
//
//   node wasm/build.mjs                                 rebuild both committed binaries
//   node wasm/build.mjs [--kernel <name>] --out <file>  write one elsewhere (default fastcdc; the
//                                                       rebuild test compares the two)
//
// The output is committed, so the flags below are part of the build: the same compiler version and
// flags give the same bytes (test/chunker/wasm-build.test.ts checks it).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const here = dirname(fileURLToPath(import.meta.url));
const KERNELS = ["fastcdc", "grouphash"];

function option(argv, name) {
  const i = argv.indexOf(name);
  if (i === -1) return undefined;
  const value = argv[i + 1];
  if (!value) throw new Error(`${name} needs a value`);
  return value;
}

const ASC_FLAGS = [
  "-O3",
  "--noAssert", // no bounds-check traps: the JS side keeps every pointer inside the window
  "--runtime", "stub", // the kernel never allocates
  "--importMemory", // each Chunker gives its instance a memory sized for its window
  "--noExportMemory",
  "--use", "abort=", // no abort import: nothing can abort
];

async function build(kernel, out) {
  let binary = null;
  const result = await asc.main([resolve(here, `assembly/${kernel}.ts`), ...ASC_FLAGS, "--outFile", `${kernel}.wasm`], {
    writeFile(name, contents) {
      if (name.endsWith(".wasm")) binary = contents;
    },
  });
  if (result.error) {
    process.stderr.write(result.stderr.toString());
    throw result.error;
  }
  if (!binary) throw new Error("asc produced no binary");
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, binary);
  process.stdout.write(`wrote ${out} (${binary.length} bytes)\n`);
}

const argv = process.argv.slice(2);
const out = option(argv, "--out");
const kernel = option(argv, "--kernel");
if (kernel !== undefined && !KERNELS.includes(kernel)) throw new Error(`unknown kernel ${kernel} (${KERNELS.join(", ")})`);
if (out) await build(kernel ?? "fastcdc", resolve(out));
else for (const k of kernel ? [kernel] : KERNELS) await build(k, resolve(here, `build/${k}.wasm`));
