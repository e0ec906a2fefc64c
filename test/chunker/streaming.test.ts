// Cut points depend on the bytes only, never on how they arrive; chunks span window refills
// correctly; the kernel agrees with a plain TypeScript reference on many parameter sets.

import { describe, expect, it } from "vitest";
import {
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  defaultGearTable,
  gearTableFromSeed,
  windowSizeFor,
  type ChunkerParams,
} from "../../src/chunker/index.ts";
import { UsageError } from "../../src/errors.ts";
import { collect, concat, inPieces, loadVectors, prng, pseudoRandom } from "./helpers.ts";
import { referenceCuts } from "./reference.ts";

const SMALL: ChunkerParams = { minSize: 4096, avgSize: 16384, maxSize: 65535, normalization: 1 };
// Tiny chunks: more cuts per window than one scan() call reports, so the caller must scan again.
const TINY: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024, normalization: 2 };

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

describe("piece boundaries do not move cut points", () => {
  const { input } = loadVectors();

  it("byte by byte agrees with whole (40 KB of the vector image, small params)", async () => {
    const chunker = await Chunker.create(SMALL);
    const head = input.subarray(0, 40_000);
    const whole = chunker.cut(head);
    expect(whole.length).toBeGreaterThan(1);
    const chunks = await collect(chunker, inPieces(head, () => 1));
    expect(chunks.map((c) => c.length)).toEqual(whole);
    expect(Buffer.compare(concat(chunks), head)).toBe(0);
  });

  it("whole, 4 KiB pieces and random pieces agree (vector image, small params)", async () => {
    const chunker = await Chunker.create(SMALL);
    const whole = chunker.cut(input);
    const random = prng(7);
    const splits: Array<[string, () => number]> = [
      ["whole", () => input.length],
      ["4 KiB", () => 4096],
      ["random", () => 1 + Math.floor(random() * 70000)],
    ];
    for (const [name, nextSize] of splits) {
      const chunks = await collect(chunker, inPieces(input, nextSize));
      expect(chunks.map((c) => c.length), name).toEqual(whole);
      expect(Buffer.compare(concat(chunks), input), name).toBe(0);
    }
  });

  it("agree across many window refills (20 MiB, default params)", async () => {
    const data = pseudoRandom(20 * 1024 * 1024, 3);
    const chunker = await Chunker.create(DEFAULT_CHUNKER_PARAMS);
    expect(data.length).toBeGreaterThan(4 * windowSizeFor(DEFAULT_CHUNKER_PARAMS));
    const whole = chunker.cut(data);
    expect(whole.reduce((a, b) => a + b, 0)).toBe(data.length);

    const random = prng(11);
    for (const [name, nextSize] of [
      ["4 KiB", () => 4096],
      ["random up to 1 MiB", () => 1 + Math.floor(random() * 1024 * 1024)],
      ["random tiny", () => 1 + Math.floor(random() * 300)],
      ["one piece", () => data.length],
    ] as Array<[string, () => number]>) {
      const chunks = await collect(chunker, inPieces(data, nextSize));
      expect(chunks.map((c) => c.length), name).toEqual(whole);
      expect(Buffer.compare(concat(chunks), data), name).toBe(0);
    }
  });

  it("the whole-buffer cut across windows equals cutting each chunk on its own (the crate's definition)", async () => {
    // cut() looks at no more than maxSize bytes, so chunk k is the first chunk of data[offset_k..][..maxSize].
    const data = pseudoRandom(10 * 1024 * 1024, 5);
    for (const params of [DEFAULT_CHUNKER_PARAMS, SMALL]) {
      const chunker = await Chunker.create(params);
      const cuts = chunker.cutWithHashes(data);
      let offset = 0;
      for (const cut of cuts) {
        const [first] = chunker.cutWithHashes(data.subarray(offset, offset + params.maxSize));
        expect(cut).toEqual({ offset, length: first!.length, hash: first!.hash });
        offset += cut.length;
      }
      expect(offset).toBe(data.length);
    }
  });

  it("handles more cuts per window than one kernel call reports (tiny chunks)", async () => {
    const data = pseudoRandom(9 * 1024 * 1024, 9);
    const chunker = await Chunker.create(TINY);
    const whole = chunker.cut(data);
    expect(whole.length).toBeGreaterThan(20000);
    const random = prng(3);
    const chunks = await collect(chunker, inPieces(data, () => 1 + Math.floor(random() * 100000)));
    expect(chunks.map((c) => c.length)).toEqual(whole);
    expect(Buffer.compare(concat(chunks), data)).toBe(0);
    const head = data.subarray(0, 300_000);
    expect(chunker.cut(head)).toEqual(referenceCuts(head, TINY, defaultGearTable()).map((c) => c.length));
  });

  it("empty input gives no chunks; input up to minSize gives one", async () => {
    const chunker = await Chunker.create(SMALL);
    expect(chunker.cut(new Uint8Array(0))).toEqual([]);
    expect(await collect(chunker, once(new Uint8Array(0)))).toEqual([]);
    expect(await collect(chunker, inPieces(new Uint8Array(0), () => 1))).toEqual([]);
    expect(chunker.cutWithHashes(new Uint8Array(4096))).toEqual([{ offset: 0, length: 4096, hash: 0n }]);
    const small = pseudoRandom(100, 2);
    expect(await collect(chunker, once(small))).toEqual([small]);
  });

  it("all-zero input is cut at maxSize", async () => {
    const chunker = await Chunker.create(SMALL);
    const lengths = chunker.cut(new Uint8Array(300_000));
    expect(lengths).toEqual([65535, 65535, 65535, 65535, 300_000 - 4 * 65535]);
  });

  it("yielded chunks are copies the caller owns", async () => {
    const data = pseudoRandom(3 * 1024 * 1024, 4);
    const chunker = await Chunker.create(SMALL);
    const chunks = await collect(chunker, inPieces(data, () => 65536));
    for (const chunk of chunks) chunk.fill(0xff); // must not disturb later chunks or the input
    const again = await collect(chunker, inPieces(data, () => 65536));
    expect(Buffer.compare(concat(again), data)).toBe(0);
    expect(new Set(chunks.map((c) => c.buffer)).size).toBe(chunks.length);
  });
});

describe("the kernel against the TypeScript reference", () => {
  it("agrees on cut lengths and hashes for random parameters, seeds and inputs", async () => {
    const random = prng(2024);
    const pick = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
    for (let round = 0; round < 24; round++) {
      const avgSize = pick(256, 8192);
      const params: ChunkerParams = {
        minSize: pick(64, avgSize),
        avgSize,
        maxSize: Math.max(1024, pick(avgSize, avgSize * 4)),
        normalization: pick(0, 3),
      };
      const gear = gearTableFromSeed(BigInt(pick(0, 1 << 30)));
      const data = pseudoRandom(pick(0, 120_000), round + 20);
      const chunker = await Chunker.create(params, gear);
      const expected = referenceCuts(data, params, gear);
      const label = JSON.stringify(params);
      expect(chunker.cutWithHashes(data).map(({ length, hash }) => ({ length, hash })), label).toEqual(expected);
    }
  });

  it("agrees wherever a cut falls in the kernel's 32-byte blocks, after either byte of a step", async () => {
    // The kernel hashes 32 bytes per loop test and hands a block holding a cut point to its exact
    // two-byte loop. With hashing starting at 64 and the mask switching at 256, both phases' blocks
    // start at offsets of 64 + 32k, so (length - 64) mod 32 names the position in the block.
    const params: ChunkerParams = { minSize: 64, avgSize: 256, maxSize: 1024, normalization: 1 };
    const data = pseudoRandom(200_000, 17);
    const chunker = await Chunker.create(params);
    const expected = referenceCuts(data, params, defaultGearTable());
    expect(chunker.cutWithHashes(data).map(({ length, hash }) => ({ length, hash }))).toEqual(expected);
    // The last chunk is the rest of the input, not a cut.
    const cuts = expected.slice(0, -1).filter((c) => c.length < params.maxSize);
    const positions = new Set(cuts.map((c) => (c.length - 64) % 32));
    expect([...positions].sort((a, b) => a - b)).toEqual(Array.from({ length: 32 }, (_, i) => i));
  });
});

describe("several chunkers and streams", () => {
  it("chunkers run concurrently without sharing state", async () => {
    const a = pseudoRandom(6 * 1024 * 1024, 30);
    const b = pseudoRandom(6 * 1024 * 1024, 31);
    const [ca, cb] = await Promise.all([Chunker.create(DEFAULT_CHUNKER_PARAMS), Chunker.create(DEFAULT_CHUNKER_PARAMS)]);
    const expectedA = ca.cut(a);
    const expectedB = cb.cut(b);
    const [chunksA, chunksB] = await Promise.all([
      collect(ca, inPieces(a, () => 50_000)),
      collect(cb, inPieces(b, () => 70_000)),
    ]);
    expect(chunksA.map((c) => c.length)).toEqual(expectedA);
    expect(chunksB.map((c) => c.length)).toEqual(expectedB);
  });

  it("a stream overtaken by another use of the same Chunker fails instead of yielding bad chunks", async () => {
    const data = pseudoRandom(6 * 1024 * 1024, 32);
    const chunker = await Chunker.create(SMALL);
    const stream = chunker.chunks(inPieces(data, () => 1 << 20));
    await stream.next();
    chunker.cut(data.subarray(0, 100_000));
    await expect(stream.next()).rejects.toThrow(UsageError);
    // The chunker itself is fine afterwards.
    expect(chunker.cut(data)).toEqual((await collect(chunker, inPieces(data, () => 1 << 20))).map((c) => c.length));
  });

  it("rejects input that is not bytes", async () => {
    const chunker = await Chunker.create(SMALL);
    async function* strings(): AsyncGenerator<Uint8Array> {
      yield "text" as unknown as Uint8Array;
    }
    await expect(collect(chunker, strings())).rejects.toThrow(/Uint8Array/);
  });
});

describe("chunkViews", () => {
  it("yields the same chunks as chunks() across window refills, as views of one reused window", async () => {
    const chunker = await Chunker.create(SMALL);
    // Several windows' worth, in odd pieces, so views are cut before and after compactions.
    const data = pseudoRandom(3 * windowSizeFor(SMALL) + 12_345, 7);
    const r1 = prng(3);
    const r2 = prng(4);
    const copies = await collect(chunker, inPieces(data, () => 1 + Math.floor(r1() * 300_000)));
    const seen: Uint8Array[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const view of chunker.chunkViews(inPieces(data, () => 1 + Math.floor(r2() * 300_000)))) {
      seen.push(view.slice()); // what a consumer sees while the view is valid
      buffers.add(view.buffer);
    }
    expect(seen.map((c) => c.length)).toEqual(copies.map((c) => c.length));
    expect(Buffer.compare(concat(seen), data)).toBe(0);
    expect(buffers.size).toBe(1);
  });

  it("a view kept past the next step no longer holds its chunk (the contract: done with it before asking for the next)", async () => {
    const chunker = await Chunker.create(TINY);
    const data = pseudoRandom(windowSizeFor(TINY) * 2, 11);
    const kept: { view: Uint8Array; copy: Uint8Array }[] = [];
    for await (const view of chunker.chunkViews(inPieces(data, () => 65_536))) kept.push({ view, copy: view.slice() });
    expect(kept.some(({ view, copy }) => Buffer.compare(view, copy) !== 0)).toBe(true);
  });
});
