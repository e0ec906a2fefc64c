import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { listingBlocks, parseListing } from "../../src/engine/listing.ts";
import { Chunker } from "../../src/chunker/index.ts";
import type { FileEntry } from "../../src/engine/types.ts";

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex"));
const entry: fc.Arbitrary<FileEntry> = fc.record({
  path: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }),
  type: fc.constant("file" as const),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  mtimeMs: fc.integer({ min: 0, max: 2 ** 42 }),
  size: fc.nat(),
  chunks: fc.array(hexId, { maxLength: 40 }),
});

async function pieces(source: Iterable<Uint8Array>): Promise<string[]> {
  const chunker = await Chunker.create({ minSize: 64, avgSize: 256, maxSize: 1024, normalization: 1 });
  const out: string[] = [];
  for await (const piece of chunker.chunkViews(source)) out.push(Buffer.from(piece).toString("hex"));
  return out;
}

describe("listing serialization", () => {
  it("writes in blocks exactly the lines of the listing, each block bounded, and a chunker cuts them as it cuts the whole", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 60 }), fc.integer({ min: 1, max: 2048 }), async (entries, blockBytes) => {
        const lines = entries.map((e) => `${JSON.stringify(e)}\n`);
        const whole = Buffer.from(lines.join(""));
        const blocks = [...listingBlocks(entries, blockBytes)];
        expect(Buffer.concat(blocks).equals(whole)).toBe(true);
        const longest = Math.max(0, ...lines.map((l) => Buffer.byteLength(l)));
        for (const b of blocks) expect(b.byteLength).toBeLessThanOrEqual(Math.max(blockBytes, longest));
        expect(parseListing(whole, "test").map((e) => e.path)).toEqual(entries.map((e) => e.path));
        expect(await pieces(blocks)).toEqual(await pieces([whole]));
      }),
      { numRuns: 60 },
    );
  });
});
