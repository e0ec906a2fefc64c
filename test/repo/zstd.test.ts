import { describe, expect, it } from "vitest";
import { zstdCompressSync, zstdDecompressSync, constants as zc } from "node:zlib";
import { deriveKeys, generateMasterKey } from "../../src/crypto/keys.ts";
import { BlobType, decodeBlob, encodeBlob } from "../../src/repo/blob.ts";
import { PackWriter, readPackHeader } from "../../src/repo/pack.ts";
import { keptContexts, zstdCompressAgainst, zstdCompressFrame, zstdDecompressAgainst, zstdDecompressFrame } from "../../src/repo/zstd.ts";
import { randomBytes } from "node:crypto";

// Buffers are compared with equals(): vitest's toEqual walks them element by element.
// Text-like pages: compressible, each different.
function page(i: number, size = 8192): Buffer {
  return Buffer.from(`row ${i} of the transcript, tool call ${i * 7} and its result; `.repeat(Math.ceil(size / 50))).subarray(0, size);
}

describe("zstd through kept contexts", () => {
  it("is live on this Node (if node:zlib's internals change, this fails rather than silently going slow)", () => {
    expect(keptContexts).toBe(true);
  });

  it("gives frames the one-shot API decompresses, over many frames and both levels, and reads them back", () => {
    for (let i = 0; i < 300; i++) {
      const data = i % 3 === 0 ? page(i, 70_000) : page(i);
      const level = data.byteLength > 16 * 1024 ? 3 : 1;
      const frame = Buffer.from(zstdCompressFrame(data, level));
      expect(zstdDecompressSync(frame).equals(data)).toBe(true);
      expect(frame.byteLength).toBe(zstdCompressSync(data, { pledgedSrcSize: data.byteLength, params: { [zc.ZSTD_c_compressionLevel]: level } }).byteLength);
      expect(zstdDecompressFrame(frame, 1 << 20).equals(data)).toBe(true);
    }
  });

  it("compresses and decompresses inputs larger than its scratch buffers (growing them)", () => {
    const big = Buffer.concat([randomBytes(3 << 20), page(1, 1 << 20)]);
    const frame = Buffer.from(zstdCompressFrame(big, 3));
    expect(zstdDecompressFrame(frame, 8 << 20).equals(big)).toBe(true);
  });

  it("refuses a frame that decompresses past the limit, then keeps working", () => {
    const frame = Buffer.from(zstdCompressFrame(page(2, 100_000), 1));
    expect(() => zstdDecompressFrame(frame, 50_000)).toThrow();
    expect(zstdDecompressFrame(frame, 100_000).equals(page(2, 100_000))).toBe(true);
  });

  it("garbage fails, and the next good frame still decodes", () => {
    expect(() => zstdDecompressFrame(Buffer.from("this is not a zstd frame at all"), 1 << 20)).toThrow();
    const frame = Buffer.from(zstdCompressFrame(page(3), 1));
    expect(zstdDecompressFrame(frame, 1 << 20).equals(page(3))).toBe(true);
  });

  it("a truncated frame leaves the kept context mid-frame; decodeBlob's fresh retry still reads the next blob", () => {
    const keys = deriveKeys(generateMasterKey());
    const frame = Buffer.from(zstdCompressFrame(page(4, 60_000), 3));
    const partial = zstdDecompressFrame(frame.subarray(0, frame.byteLength >> 1), 1 << 20);
    expect(partial.byteLength).toBeLessThan(60_000);
    const good = Buffer.from(zstdCompressFrame(page(5), 1));
    let kept: Buffer | undefined;
    try {
      kept = zstdDecompressFrame(good, 1 << 20);
    } catch {
      kept = undefined;
    }
    expect(kept?.equals(page(5)) ?? false).toBe(false); // the kept context is not fit to use
    expect(zstdDecompressFrame(good, 1 << 20, true).equals(page(5))).toBe(true);
    zstdDecompressFrame(frame.subarray(0, frame.byteLength >> 1), 1 << 20);
    const blob = encodeBlob(keys, BlobType.data, page(5));
    expect(decodeBlob(keys, blob.id, blob.sealed, "data/p").equals(page(5))).toBe(true);
  });
});

describe("deltas through the kept stream", () => {
  // A base page and a version of it with a few rows changed, as a commit stores a changed page group.
  function version(i: number): { base: Buffer; data: Buffer; frame: Buffer } {
    const base = page(i, 32 * 1024);
    const data = Buffer.from(base);
    data.write(`changed row ${i} `.repeat(20), 4096 + (i % 7) * 1000);
    return { base, data, frame: Buffer.from(zstdCompressAgainst(data, base, 3)) };
  }

  it("decodes each delta against its own base, frame after frame, as the one-shot call does", () => {
    const all = Array.from({ length: 200 }, (_, i) => version(i));
    for (const v of all) {
      expect(zstdDecompressSync(v.frame, { dictionary: v.base }).equals(v.data)).toBe(true);
      expect(zstdDecompressAgainst(v.frame, v.base, 1 << 20).equals(v.data)).toBe(true);
    }
    // A base reused for another delta, and bases interleaved, still decode right.
    for (const i of [5, 5, 17, 5, 199, 0]) expect(zstdDecompressAgainst(all[i]!.frame, all[i]!.base, 1 << 20).equals(all[i]!.data)).toBe(true);
  });

  it("compresses each delta against its own base to the very bytes of node's one-shot call, at any level, bases reused and interleaved", () => {
    const all = Array.from({ length: 100 }, (_, i) => version(i));
    for (const [n, i] of [...all.keys(), 5, 5, 17, 99, 0].entries()) {
      const { base, data } = all[i]!;
      const level = n % 3 === 0 ? 1 : 3;
      const oneShot = zstdCompressSync(data, { dictionary: base, params: { [zc.ZSTD_c_compressionLevel]: level } });
      expect(Buffer.from(zstdCompressAgainst(data, base, level)).equals(oneShot), `delta ${i} at level ${level}`).toBe(true);
    }
  });

  it("a wrong base, garbage or a frame past the limit fails, and the next delta still decodes", () => {
    const a = version(1);
    const b = version(2);
    let wrong: Buffer | undefined;
    try {
      wrong = zstdDecompressAgainst(a.frame, b.base, 1 << 20);
    } catch {
      wrong = undefined;
    }
    expect(wrong?.equals(a.data) ?? false).toBe(false);
    expect(() => zstdDecompressAgainst(Buffer.from("not a zstd frame, not at all"), a.base, 1 << 20)).toThrow();
    expect(() => zstdDecompressAgainst(a.frame, a.base, 1000)).toThrow();
    // Half a frame: short output or an error, never the whole page; the next frame is unaffected.
    let half: Buffer | undefined;
    try {
      half = zstdDecompressAgainst(a.frame.subarray(0, a.frame.byteLength >> 1), a.base, 1 << 20);
    } catch {
      half = undefined;
    }
    expect(half?.equals(a.data) ?? false).toBe(false);
    expect(zstdDecompressAgainst(b.frame, b.base, 1 << 20).equals(b.data)).toBe(true);
  });
});

describe("pack buffers", () => {
  it("a pack written into a reused buffer is byte-identical to one written into a fresh one, and grows when a blob does not fit", () => {
    const keys = deriveKeys(generateMasterKey());
    const blobs = [page(1), randomBytes(300_000), page(3, 40_000)].map((d) => encodeBlob(keys, BlobType.data, d));
    const fresh = new PackWriter();
    for (const b of blobs) fresh.add(b);
    const a = fresh.finish(keys);
    const expected = Buffer.from(a.bytes);
    const reused = new PackWriter(a.buffer.fill(0xee));
    for (const b of blobs) reused.add(b);
    const b = reused.finish(keys);
    expect(b.bytes.equals(expected)).toBe(false); // header nonce differs; blobs must not
    const blobsEnd = a.entries.at(-1)!.offset + a.entries.at(-1)!.length;
    expect(b.bytes.subarray(0, blobsEnd).equals(expected.subarray(0, blobsEnd))).toBe(true);
    const tiny = new PackWriter(Buffer.alloc(16));
    for (const blob of blobs) tiny.add(blob);
    const c = tiny.finish(keys);
    expect(c.entries).toEqual(a.entries);
    // Grown from 16 bytes, it still reads back: header, and every blob.
    expect(readPackHeader(keys, c.id, c.bytes, "data/c")).toEqual(c.entries);
    for (const e of c.entries) expect(decodeBlob(keys, e.id, c.bytes.subarray(e.offset, e.offset + e.length), "data/c").byteLength).toBe(e.rawLength);
  });
});
