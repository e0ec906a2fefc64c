import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { chunkId, deriveKeys } from "../../../src/crypto/keys.ts";
import { BlobType, decodeBlob } from "../../../src/repo/blob.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import type { BatchItem } from "../../../src/engine/codec/codec-protocol.ts";

const MiB = 1024 * 1024;

/** A batch of 32 KiB chunks of compressible text, as the commit sends them. */
function batch(keys: ReturnType<typeof deriveKeys>, seed: number): { input: Buffer; items: BatchItem[] } {
  const input = Buffer.from(`entry ${seed}: the agent wrote a note about the garden and the weather. `.repeat(Math.ceil(MiB / 60)).slice(0, MiB));
  const items: BatchItem[] = [];
  for (let offset = 0; offset < input.byteLength; offset += 32 * 1024) {
    items.push({ type: BlobType.data, id: chunkId(keys, input.subarray(offset, offset + 32 * 1024)), offset, length: 32 * 1024 });
  }
  return { input, items };
}

describe("codec pool", () => {
  it("counts the encode batches its worker has not finished, up to date while the caller's event loop does not run", async () => {
    const keys = deriveKeys(randomBytes(32));
    const codec = createCodec(keys, { encode: 1, decode: 0 });
    try {
      // One round trip first, so the worker is up and its modules loaded.
      const first = batch(keys, 99);
      await codec.encodeBatch!(first.input, first.items);
      expect(codec.encodeBacklog!()).toBe(0);

      const batches = Array.from({ length: 6 }, (_, i) => batch(keys, i));
      const expected = batches.map((b) => b.items.map((item) => Buffer.from(b.input.subarray(item.offset, item.offset + item.length))));
      const jobs = batches.map((b) => codec.encodeBatch!(b.input, b.items));
      // Nothing can have been finished yet by this thread's reckoning or the worker's: six outstanding.
      expect(codec.encodeBacklog!()).toBeGreaterThan(0);
      // Without a turn of this thread's event loop (no message can arrive), the count still goes
      // down to 0. (Whether this loop also sees the steps between depends on how the two threads
      // are scheduled: on a loaded machine it can miss them all, so that is not asserted.)
      const deadline = Date.now() + 20_000;
      while (codec.encodeBacklog!() > 0 && Date.now() < deadline);
      expect(codec.encodeBacklog!()).toBe(0);

      const results = await Promise.all(jobs);
      results.forEach(({ sealed, lengths }, b) => {
        let at = 0;
        lengths.forEach((length, i) => {
          const item = batches[b]!.items[i]!;
          expect(decodeBlob(keys, item.id, sealed.subarray(at, at + length), "test").equals(expected[b]![i]!)).toBe(true);
          at += length;
        });
      });
      expect(codec.encodeBacklog!()).toBe(0);
    } finally {
      await codec.close();
    }
  });
});
