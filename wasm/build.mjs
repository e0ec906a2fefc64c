#!/usr/bin/env node
// Builds the FastCDC kernel: wasm/assembly/fastcdc.ts -> wasm/build/fastcdc.wasm.
//
//   node wasm/build.mjs                 rebuild the committed binary
//   node wasm/build.mjs --out <file>    write elsewhere (the rebuild test compares the two)
//
// The output is committed, so the flags below are part of the build: the same compiler version and
// flags give the same bytes (test/chunker/wasm-build.test.ts checks it).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const here = dirname(fileURLToPath(import.meta.url));
const source = resolve(here, "assembly/fastcdc.ts");

function outputPath(argv) {
  const i = argv.indexOf("--out");
  if (i === -1) return resolve(here, "build/fastcdc.wasm");
  const value = argv[i + 1];
  if (!value) throw new Error("--out needs a file name");
  return resolve(value);
}

const ASC_FLAGS = [
  "-O3",
  "--noAssert", // no bounds-check traps: the JS side keeps every pointer inside the window
  "--runtime", "stub", // the kernel never allocates
  "--importMemory", // each Chunker gives its instance a memory sized for its window
  "--noExportMemory",
  "--use", "abort=", // no abort import: nothing can abort
];

const out = outputPath(process.argv.slice(2));
let binary = null;
const result = await asc.main([source, ...ASC_FLAGS, "--outFile", "fastcdc.wasm"], {
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
