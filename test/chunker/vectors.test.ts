// The FastCDC 2020 test vectors (the Rust crate `fastcdc`, module v2020, on SekienAkashita.jpg):
// every offset, length, gear hash and chunk digest, whole and streamed.

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Chunker, gearTableFromSeed, type ChunkerParams } from "../../src/chunker/index.ts";
import { collect, inPieces, loadVectors, prng, type VectorCase } from "./helpers.ts";

const { vectors, input } = loadVectors();
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function paramsOf(c: VectorCase): ChunkerParams {
  return { minSize: c.min, avgSize: c.avg, maxSize: c.max, normalization: c.normalization };
}

function label(c: VectorCase): string {
  return `min ${c.min} avg ${c.avg} max ${c.max} normalization ${c.normalization} seed ${c.seed}`;
}

describe("FastCDC 2020 vectors", () => {
  it("uses the input the vectors were made from", () => {
    expect(input.length).toBe(vectors.inputSize);
    expect(sha256(input)).toBe(vectors.inputSha256);
    expect(vectors.cases.length).toBeGreaterThanOrEqual(7);
    expect(vectors.cases.every((c) => c.algorithm === "fastcdc-2020")).toBe(true);
  });

  for (const c of vectors.cases) {
    describe(label(c), () => {
      const expected = c.chunks.map((k) => ({ offset: k.offset, length: k.length, hash: BigInt(k.gearHash) }));

      it("cuts the whole buffer at the expected offsets with the expected gear hashes", async () => {
        const chunker = await Chunker.create(paramsOf(c), gearTableFromSeed(BigInt(c.seed)));
        expect(chunker.cutWithHashes(input)).toEqual(expected);
        expect(chunker.cut(input)).toEqual(c.chunks.map((k) => k.length));
      });

      it("streams the same chunks, byte for byte", async () => {
        const chunker = await Chunker.create(paramsOf(c), gearTableFromSeed(BigInt(c.seed)));
        const random = prng(c.min ^ c.seed);
        const chunks = await collect(chunker, inPieces(input, () => 1 + Math.floor(random() * 20000)));
        expect(chunks.map((k) => k.length)).toEqual(c.chunks.map((k) => k.length));
        expect(chunks.map(sha256)).toEqual(c.chunks.map((k) => k.sha256));
      });
    });
  }
});
