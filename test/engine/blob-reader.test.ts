import { describe, expect, it } from "vitest";
import { BlobType } from "../../src/repo/blob.ts";
import { BlobReader, type PlaintextArena } from "../../src/engine/blob-reader.ts";
import { BlobWriter } from "../../src/engine/commit/blob-writer.ts";
import { prng, randomBytesFrom } from "../helpers/tree.ts";
import { useScratch } from "../helpers/scratch.ts";
import { writerParts } from "../helpers/writer-parts.ts";

describe("blob reader, plaintexts decoded into a caller's arena", () => {
  const scratch = useScratch();

  it("decodes whole blobs and deltas into one buffer, reused from read to read and grown when too small", async () => {
    const { keys, backend, cache, folder, codec, close } = await writerParts(await scratch.dir("arena"), 0);
    try {
      const rand = prng(5);
      const olds = Array.from({ length: 12 }, (_, i) => randomBytesFrom(rand, 8 * 1024 + i * 100));
      const first = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder);
      const oldIds: string[] = [];
      for (const old of olds) oldIds.push(await first.add(BlobType.data, old));
      cache.addManifest("first", await first.flush());
      const news = olds.map((old, i) => {
        const next = Buffer.from(old);
        next.writeUInt32LE(i + 1, 64);
        return next;
      });
      const second = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder);
      const newIds: string[] = [];
      for (const [i, next] of news.entries()) newIds.push(await second.add(BlobType.data, next, undefined, { id: oldIds[i]!, data: olds[i]! }));
      const secondPacks = await second.flush();
      cache.addManifest("second", secondPacks);
      expect(secondPacks.flatMap((p) => p.blobs).filter((b) => b.base)).toHaveLength(12);

      const reader = new BlobReader(backend, keys, cache);
      const arena: PlaintextArena = { buffer: Buffer.alloc(1024) };
      const small = arena.buffer;
      // Whole blobs and deltas asked for together (the deltas' bases are read too, outside the arena).
      const wanted = [...oldIds.slice(0, 6), ...newIds.slice(6)];
      const expected = [...olds.slice(0, 6), ...news.slice(6)];
      const got = await reader.readMany(wanted, { arena });
      got.forEach((plain, i) => expect(plain.equals(expected[i]!)).toBe(true));
      expect(arena.buffer).not.toBe(small);
      for (const plain of got) expect(plain.buffer).toBe(arena.buffer!.buffer);
      // Pieces do not overlap.
      const spans = got.map((p) => [p.byteOffset, p.byteOffset + p.byteLength] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

      // The next read reuses the grown buffer; what the first returned is overwritten, as documented.
      const grown = arena.buffer;
      const again = await reader.readMap(newIds.slice(0, 6), { arena });
      expect(arena.buffer).toBe(grown);
      newIds.slice(0, 6).forEach((id, i) => {
        expect(again.get(id)!.equals(news[i]!)).toBe(true);
        expect(again.get(id)!.buffer).toBe(grown!.buffer);
      });
    } finally {
      await close();
    }
  });
});
