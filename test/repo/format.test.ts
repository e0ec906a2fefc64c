import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { deriveKeys, generateMasterKey, chunkId } from "../../src/crypto/keys.ts";
import fc from "fast-check";
import { BlobType, byteEntropy, decodeBlob, encodeBlob, INCOMPRESSIBLE_RATIO, looksIncompressible } from "../../src/repo/blob.ts";
import { zstdCompressFrame } from "../../src/repo/zstd.ts";
import { PackWriter, readPackHeader } from "../../src/repo/pack.ts";
import { decodeManifest, encodeManifest } from "../../src/repo/manifest.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecord } from "../../src/repo/snapshot.ts";
import { encodeConfig, newConfig, parseConfig } from "../../src/repo/config.ts";
import { IntegrityError } from "../../src/errors.ts";

const keys = deriveKeys(generateMasterKey());

describe("blobs", () => {
  it("compresses what shrinks, stores random bytes raw, and reads both back verified", () => {
    const text = Buffer.from("the same words again and again ".repeat(3000));
    const noise = randomBytes(100_000);
    const a = encodeBlob(keys, BlobType.data, text);
    const b = encodeBlob(keys, BlobType.data, noise);
    expect(a.sealed.length).toBeLessThan(text.length / 10);
    expect(b.sealed.length).toBe(noise.length + 1 + 28);
    expect(decodeBlob(keys, a.id, a.sealed, "p")).toEqual(text);
    expect(decodeBlob(keys, b.id, b.sealed, "p")).toEqual(noise);
  });

  it("the entropy shortcut of the incompressibility test never takes a sample for compressible that zstd finds incompressible", () => {
    // Samples of k equally likely byte values (log2 k bits a byte): below 7 bits the shortcut
    // answers without zstd, so there zstd must shrink the sample past the threshold; from 7 bits
    // on (k >= 128), the zstd test decides as it did before the shortcut.
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 256 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (k, seed) => {
        const sample = Buffer.from(randomBytes(4096).map((b) => (b + seed) % k));
        const bits = byteEntropy(sample);
        const zstdSays = zstdCompressFrame(sample, 1).byteLength > sample.byteLength * INCOMPRESSIBLE_RATIO;
        if (bits < 7) expect(zstdSays).toBe(false);
        const chunk = Buffer.concat([randomBytes(6144), sample, randomBytes(6144)]);
        expect(looksIncompressible(chunk)).toBe(zstdSays);
      }),
      { numRuns: 300 },
    );
    expect(byteEntropy(Buffer.alloc(4096, 7))).toBe(0);
    expect(byteEntropy(Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 15)))).toBeCloseTo(4, 10);
  });

  it("a blob is bound to its id: read under another id, or with a byte flipped, it fails naming the pack", () => {
    const blob = encodeBlob(keys, BlobType.data, Buffer.from("payload"));
    const other = chunkId(keys, Buffer.from("other"));
    expect(() => decodeBlob(keys, other, blob.sealed, "data/ab/abc")).toThrow(/data\/ab\/abc/);
    const bad = Buffer.from(blob.sealed);
    bad[20] = bad[20]! ^ 1;
    expect(() => decodeBlob(keys, blob.id, bad, "data/ab/abc")).toThrow(IntegrityError);
  });

  it("a blob whose content does not match the id it was sealed under is refused", () => {
    const lying = encodeBlob(keys, BlobType.data, Buffer.from("real content"), chunkId(keys, Buffer.from("claimed content")));
    expect(() => decodeBlob(keys, lying.id, lying.sealed, "p")).toThrow(/does not match its id/);
    // A caller that checks ids itself later (a checkout's read-back) can skip it; authentication stays.
    expect(decodeBlob(keys, lying.id, lying.sealed, "p", { checkId: false }).toString()).toBe("real content");
    const bad = Buffer.from(lying.sealed);
    bad[20] = bad[20]! ^ 1;
    expect(() => decodeBlob(keys, lying.id, bad, "p", { checkId: false })).toThrow(/failed authentication/);
  });
});

describe("delta blobs (format version 2)", () => {
  // An 8 KiB page group of prose-like rows, and the same group after one row changed.
  const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const words = ["session", "memory", "tool", "reply", "the", "agent", "cron", "note", "token", "window"];
  const r = rand(7);
  const old = Buffer.alloc(8192);
  for (let at = 0; at < old.length; ) at += old.write(`${words[Math.floor(r() * words.length)]} ${Math.floor(r() * 1e6)} `, at);
  const changed = Buffer.from(old);
  changed.write("a changed row in the middle of the group", 4000);
  const base = { id: chunkId(keys, old), data: old };

  it("a changed group is stored against its old version in a fraction of its own size, and needs that base to open", () => {
    const alone = encodeBlob(keys, BlobType.data, changed);
    const delta = encodeBlob(keys, BlobType.data, changed, undefined, base);
    expect(alone.base).toBeUndefined();
    expect(delta.base).toBe(base.id);
    expect(delta.sealed.length * 5).toBeLessThan(alone.sealed.length);
    expect(decodeBlob(keys, delta.id, delta.sealed, "data/ab/p1", { baseOf: (id) => (id === base.id ? old : undefined) })).toEqual(changed);
    const into = Buffer.alloc(changed.length + 1);
    expect(decodeBlob(keys, delta.id, delta.sealed, "data/ab/p1", { into, baseOf: () => old })).toEqual(changed);
    expect(() => decodeBlob(keys, delta.id, delta.sealed, "data/ab/p1")).toThrow(/data\/ab\/p1.*delta of blob/);
    // Offered the wrong plaintext for the base, the result does not match the id; a caller that
    // checks ids itself later (a checkout's read-back) gets that result, but never an unauthenticated one.
    const wrongBase = randomBytes(8192);
    expect(() => decodeBlob(keys, delta.id, delta.sealed, "data/ab/p1", { baseOf: () => wrongBase })).toThrow(IntegrityError);
    expect(decodeBlob(keys, delta.id, delta.sealed, "data/ab/p1", { baseOf: () => wrongBase, checkId: false }).equals(changed)).toBe(false);
    const bad = Buffer.from(delta.sealed);
    bad[20] = bad[20]! ^ 1;
    expect(() => decodeBlob(keys, delta.id, bad, "data/ab/p1", { baseOf: () => old, checkId: false })).toThrow(/failed authentication/);
  });

  it("a base that would not help, or that zstd would read as a trained dictionary, is not used", () => {
    expect(encodeBlob(keys, BlobType.data, changed, undefined, { id: "ab".repeat(32), data: randomBytes(8192) }).base).toBeUndefined();
    const magic = Buffer.concat([Buffer.from([0x37, 0xa4, 0x30, 0xec]), old.subarray(4)]);
    const blob = encodeBlob(keys, BlobType.data, changed, undefined, { id: chunkId(keys, magic), data: magic });
    expect(blob.base).toBeUndefined();
    expect(decodeBlob(keys, blob.id, blob.sealed, "p")).toEqual(changed);
  });

  it("pack headers and manifests carry a delta's base; a malformed base is refused", () => {
    const w = new PackWriter();
    const full = encodeBlob(keys, BlobType.data, old);
    const delta = encodeBlob(keys, BlobType.data, changed, undefined, base);
    w.add(full);
    w.add(delta);
    const pack = w.finish(keys);
    const header = readPackHeader(keys, pack.id, pack.bytes, "data/p");
    expect(header.map((e) => e.base)).toEqual([undefined, base.id]);
    const m = encodeManifest(keys, { packs: [{ id: pack.id, size: pack.bytes.length, blobs: header }] });
    expect(decodeManifest(keys, m.bytes, "index/m").packs[0]!.blobs).toEqual(header);
    const bad = encodeManifest(keys, { packs: [{ id: pack.id, size: pack.bytes.length, blobs: [{ ...header[1]!, base: "not-an-id" }] }] });
    expect(() => decodeManifest(keys, bad.bytes, "index/bad")).toThrow(/index\/bad.*invalid base/);
  });
});

describe("packs, manifests, snapshot records, config", () => {
  it("a pack's header lists every blob where it is; the pack id is its hash", () => {
    const pack = new PackWriter();
    const blobs = [Buffer.from("one"), randomBytes(5000), Buffer.from("three".repeat(100))].map((d) => encodeBlob(keys, BlobType.data, d));
    for (const b of blobs) pack.add(b);
    const done = pack.finish(keys);
    expect(done.id).toBe(createHash("sha256").update(done.bytes).digest("hex"));
    const header = readPackHeader(keys, done.id, done.bytes, "data/x");
    expect(header).toEqual(done.entries);
    for (const e of header) expect(decodeBlob(keys, e.id, done.bytes.subarray(e.offset, e.offset + e.length), "data/x").length).toBe(e.rawLength);
    const bad = Buffer.from(done.bytes);
    bad[bad.length - 6] = bad[bad.length - 6]! ^ 1;
    expect(() => readPackHeader(keys, done.id, bad, "data/x")).toThrow(/data\/x/);
  });

  it("manifests and snapshot records round-trip, are named by their hash, and cannot stand in for each other", () => {
    const manifest = encodeManifest(keys, { packs: [{ id: "a".repeat(64), size: 10, blobs: [{ id: "b".repeat(64), type: BlobType.data, offset: 0, length: 10, rawLength: 3 }] }] });
    expect(manifest.id).toBe(createHash("sha256").update(manifest.bytes).digest("hex"));
    expect(decodeManifest(keys, manifest.bytes, "index/m").packs[0]!.blobs[0]!.rawLength).toBe(3);
    const record: SnapshotRecord = { version: 1, time: new Date().toISOString(), host: "h", reason: "r", tags: [], root: "/", tree: [], excludes: [], stats: { files: 0, dirs: 0, bytes: 0, addedBytes: 0, addedChunks: 0, addedPacks: 0, filesRead: 0, durationMs: 0 } };
    const snap = encodeSnapshot(keys, record);
    expect(decodeSnapshot(keys, snap.bytes, "snapshots/s")).toEqual(record);
    expect(() => decodeSnapshot(keys, manifest.bytes, "snapshots/s")).toThrow(IntegrityError);
    expect(() => decodeManifest(keys, snap.bytes, "index/m")).toThrow(IntegrityError);
  });

  it("config round-trips; version 1 is still read, an unknown version is refused with a message that says so", () => {
    const cfg = newConfig({ sqliteGroupPages: 2 });
    expect(cfg.version).toBe(2);
    expect(parseConfig(encodeConfig(cfg))).toEqual(cfg);
    expect(parseConfig(Buffer.from(JSON.stringify({ ...cfg, version: 1 }))).version).toBe(1);
    expect(() => parseConfig(Buffer.from(JSON.stringify({ ...cfg, version: 3 })))).toThrow(/version 3 is not supported/);
    expect(() => parseConfig(Buffer.from("nope"))).toThrow(/config/);
  });
});
