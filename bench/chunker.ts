// Throughput of our FastCDC 2020 kernel against the npm package fastcdc-wasm@0.1.0 (the Rust crate
// `fastcdc` compiled with wasm-bindgen), both finding the cut points of the same 256 MiB
// pseudo-random buffer with the same sizes. Run: node bench/chunker.ts [MiB] [runs]
//
// Both sides include copying the input into wasm memory (the baseline also copies it back out).
// The runs of the two alternate, so drift on a busy machine hits both alike.

import { createCipheriv } from "node:crypto";
import { performance } from "node:perf_hooks";
import { get_chunks } from "fastcdc-wasm";
import { Chunker, DEFAULT_CHUNKER_PARAMS } from "../src/chunker/index.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 5);

/** Deterministic pseudo-random bytes: AES-256-CTR keystream under a fixed key. */
function pseudoRandom(bytes: number): Uint8Array {
  const cipher = createCipheriv("aes-256-ctr", Buffer.alloc(32, 7), Buffer.alloc(16, 0));
  return new Uint8Array(cipher.update(Buffer.alloc(bytes)));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function time(run: () => number): { ms: number; chunks: number } {
  const start = performance.now();
  const chunks = run();
  return { ms: performance.now() - start, chunks };
}

const params = DEFAULT_CHUNKER_PARAMS;
const data = pseudoRandom(sizeMiB * MiB);
const chunker = await Chunker.create(params);

const ours = () => chunker.cut(data).length;
const baseline = () => get_chunks(data, params.minSize, params.avgSize, params.maxSize).length;

// Warm up both (compilation tiers, the baseline's wasm heap growth).
const oursWarm = time(ours);
const baseWarm = time(baseline);

const oursMs: number[] = [];
const baseMs: number[] = [];
for (let i = 0; i < runs; i++) {
  oursMs.push(time(ours).ms);
  baseMs.push(time(baseline).ms);
}

// Not part of the comparison: the streaming API, which also copies every chunk out for the caller.
async function* pieces(): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += MiB) yield data.subarray(offset, offset + MiB);
}
const streamMs: number[] = [];
for (let i = 0; i <= runs; i++) {
  const start = performance.now();
  for await (const chunk of chunker.chunks(pieces())) void chunk;
  if (i > 0) streamMs.push(performance.now() - start); // the first run is a warm-up
}

const mbps = (ms: number) => (sizeMiB * MiB) / 1e6 / (ms / 1000);
const oursRate = mbps(median(oursMs));
const baseRate = mbps(median(baseMs));
console.log(`input: ${sizeMiB} MiB pseudo-random, min/avg/max ${params.minSize}/${params.avgSize}/${params.maxSize}, normalization ${params.normalization}, median of ${runs} runs`);
console.log(`clawback FastCDC 2020 (wasm): ${oursRate.toFixed(0)} MB/s  (${oursWarm.chunks} chunks)`);
console.log(`fastcdc-wasm@0.1.0 baseline:  ${baseRate.toFixed(0)} MB/s  (${baseWarm.chunks} chunks)`);
console.log(`ratio: ${(oursRate / baseRate).toFixed(2)}x`);
console.log(`clawback chunks() stream, 1 MiB pieces, chunks copied out: ${mbps(median(streamMs)).toFixed(0)} MB/s`);
