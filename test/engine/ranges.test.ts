import { describe, expect, it } from "vitest";
import { gapWithin, mergeRanges } from "../../src/engine/ranges.ts";
import { prng } from "../helpers/tree.ts";

const KiB = 1024;

/** Blobs of 32 KiB spread over a pack with gaps between them, as a late snapshot finds its early packs. */
function sparsePack(seed: number, count: number) {
  const rand = prng(seed);
  const blobs: { offset: number; length: number }[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += Math.floor(rand() * 200 * KiB); // what later versions replaced
    blobs.push({ offset: at, length: 32 * KiB });
    at += 32 * KiB;
  }
  return blobs;
}

const read = (packs: { offset: number; length: number }[][], gap: number) => {
  const ranges = packs.flatMap((p) => [...mergeRanges(p, gap)]);
  return { requests: ranges.length, bytes: ranges.reduce((n, r) => n + r.end - r.start, 0) };
};

describe("range planning", () => {
  it("bridges the smallest gaps first, within a budget of bytes read for nothing", () => {
    const packs = [sparsePack(1, 200), sparsePack(2, 150)];
    const needed = packs.flat().reduce((n, b) => n + b.length, 0);
    // Bridging every gap up to 256 KiB, as before, reads far more than the budget allows.
    expect(read(packs, 256 * KiB).bytes).toBeGreaterThan(1.5 * needed);
    for (const budget of [0, 0.05, 0.1, 0.3]) {
      const gap = gapWithin(packs, budget);
      const { bytes, requests } = read(packs, gap);
      expect(bytes, `budget ${budget}`).toBeLessThanOrEqual((1 + budget) * needed);
      if (budget === 0) expect(requests).toBe(350);
      // A larger budget never costs more requests.
      if (budget > 0) expect(requests).toBeLessThan(read(packs, gapWithin(packs, budget / 2)).requests + 1);
    }
    // Adjacent blobs cost no budget: one request per run of them.
    expect(read([[{ offset: 0, length: 10 }, { offset: 10, length: 10 }]], gapWithin([[{ offset: 0, length: 10 }, { offset: 10, length: 10 }]], 0)).requests).toBe(1);
  });

  it("never bridges a gap over bytes already read", () => {
    const blobs = [
      { offset: 0, length: 100 },
      { offset: 300, length: 100 },
    ];
    expect([...mergeRanges(blobs, 1024)].length).toBe(1);
    expect([...mergeRanges(blobs, 1024, [{ offset: 150, length: 50 }])].map((r) => [r.start, r.end])).toEqual([
      [0, 100],
      [300, 400],
    ]);
  });
});
