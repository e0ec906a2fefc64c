import { describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { deriveKeys, generateMasterKey, chunkId } from "../../src/crypto/keys.ts";
import { BlobType, decodeBlob, encodeBlob } from "../../src/repo/blob.ts";
import { PackWriter, readPackHeader } from "../../src/repo/pack.ts";
import { decodeManifest, encodeManifest } from "../../src/repo/manifest.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecord } from "../../src/repo/snapshot.ts";
import { encodeConfig, newConfig, parseConfig } from "../../src/repo/config.ts";
import { IntegrityError, UnsupportedFormatError } from "../../src/errors.ts";

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

  it("config round-trips; an unknown version is refused with a message that says so", () => {
    const cfg = newConfig({ sqliteGroupPages: 2 });
    expect(parseConfig(encodeConfig(cfg))).toEqual(cfg);
    expect(() => parseConfig(Buffer.from(JSON.stringify({ ...cfg, version: 2 })))).toThrow(UnsupportedFormatError);
    expect(() => parseConfig(Buffer.from("nope"))).toThrow(/config/);
  });
});
