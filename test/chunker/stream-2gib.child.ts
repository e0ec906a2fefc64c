// Run by memory.test.ts in a process of its own (so the test runner's memory doesn't count):
// chunks a pseudo-random stream generated on the fly, never held whole, and reports the peak RSS.
// Usage: node test/chunker/stream-2gib.child.ts [MiB]; prints one JSON line.

import { Chunker, DEFAULT_CHUNKER_PARAMS } from "../../src/chunker/index.ts";

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 2048) * MiB;
const PIECE = MiB;

let peakRss = process.memoryUsage.rss();
const sampleRss = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
};

/**
 * xorshift pseudo-random bytes, refilled into one buffer. chunks() is done with a piece before it
 * asks for the next, so reusing the buffer is safe, and the process's memory is then the chunker's
 * (plus the chunks it hands out), not garbage from the generator.
 */
async function* generate(): AsyncGenerator<Uint8Array> {
  const piece = new Uint8Array(PIECE);
  const words = new Uint32Array(piece.buffer);
  let x = 0x9e3779b9;
  let y = 362436069;
  for (let produced = 0; produced < total; produced += PIECE) {
    for (let i = 0; i < words.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = y ^ (y >>> 19) ^ (t ^ (t >>> 8));
      words[i] = y;
    }
    yield piece.subarray(0, Math.min(PIECE, total - produced));
    sampleRss();
  }
}

const started = performance.now();
const chunker = await Chunker.create(DEFAULT_CHUNKER_PARAMS);
const startRss = process.memoryUsage.rss();
let bytes = 0;
let chunks = 0;
let largest = 0;
for await (const chunk of chunker.chunks(generate())) {
  bytes += chunk.length;
  chunks++;
  if (chunk.length > largest) largest = chunk.length;
  if (chunks % 64 === 0) sampleRss();
}
sampleRss();
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ bytes, chunks, largest, startRss, peakRss, seconds })}\n`);
