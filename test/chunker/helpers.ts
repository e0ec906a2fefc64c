// Shared test inputs: deterministic pseudo-random bytes and ways of splitting them into pieces.

import { createCipheriv } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Chunker } from "../../src/chunker/index.ts";
import { prng } from "../helpers/prng.ts";
export { prng };

const FIXTURES = new URL("../fixtures/fastcdc/", import.meta.url);

export interface VectorChunk {
  offset: number;
  length: number;
  gearHash: string;
  sha256: string;
}

export interface VectorCase {
  algorithm: string;
  min: number;
  avg: number;
  max: number;
  normalization: number;
  seed: number;
  chunks: VectorChunk[];
}

export interface Vectors {
  input: string;
  inputSize: number;
  inputSha256: string;
  seedRule: string;
  normalizationRule: string;
  cases: VectorCase[];
}

export function loadVectors(): { vectors: Vectors; input: Uint8Array } {
  const vectors = JSON.parse(readFileSync(new URL("vectors-v2020.json", FIXTURES), "utf8")) as Vectors;
  const input = new Uint8Array(readFileSync(new URL(vectors.input, FIXTURES)));
  return { vectors, input };
}

/** Deterministic pseudo-random bytes (AES-256-CTR keystream under a key made from `seed`). */
export function pseudoRandom(bytes: number, seed = 1): Uint8Array {
  const cipher = createCipheriv("aes-256-ctr", Buffer.alloc(32, seed), Buffer.alloc(16, 0));
  return new Uint8Array(cipher.update(Buffer.alloc(bytes)));
}


/** Yields `data` in pieces whose sizes `nextSize` chooses (each piece a fresh copy, like a reader). */
export async function* inPieces(data: Uint8Array, nextSize: () => number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; ) {
    const size = Math.max(1, Math.min(nextSize(), data.length - offset));
    yield data.slice(offset, offset + size);
    offset += size;
  }
}

export async function collect(chunker: Chunker, source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of chunker.chunks(source)) chunks.push(chunk);
  return chunks;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}
