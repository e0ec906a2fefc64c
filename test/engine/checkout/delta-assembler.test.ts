import { describe, expect, it } from "vitest";
import { deriveKeys, generateMasterKey } from "../../../src/crypto/keys.ts";
import { BlobType, encodeBlob } from "../../../src/repo/blob.ts";
import { DeltaAssembler, type HeldBlob } from "../../../src/engine/checkout/delta-assembler.ts";
import { decodeHeldDeltas } from "../../../src/engine/codec/held-deltas.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";

const keys = deriveKeys(generateMasterKey());
const rand = prng(17);

/** A full base page group and `n` versions of it, each stored as a delta against it. */
function family(n: number) {
  const basePlain = randomBytesFrom(rand, 32 * 1024);
  const base = encodeBlob(keys, BlobType.data, basePlain);
  const versions = Array.from({ length: n }, (_, i) => {
    const plain = Buffer.from(basePlain);
    randomBytesFrom(rand, 512).copy(plain, 1024 * (i + 1));
    const blob = encodeBlob(keys, BlobType.data, plain, undefined, { id: base.id, data: basePlain });
    expect(blob.base).toBe(base.id);
    return { plain, blob };
  });
  return { base, basePlain, versions };
}

const held = (f: ReturnType<typeof family>): HeldBlob[] => [
  { id: f.base.id, rawLength: f.basePlain.byteLength, places: [] },
  ...f.versions.map((v, i) => ({ id: v.blob.id, base: f.base.id, rawLength: v.plain.byteLength, places: [{ file: `f${i}`, position: 0 }] })),
];

describe("DeltaAssembler", () => {
  it("decodes each delta once its base arrives, whichever comes first, and drops what no delta needs any more", () => {
    const f = family(3);
    const a = new DeltaAssembler(keys, held(f));
    a.take(f.versions[0]!.blob.id, f.versions[0]!.blob.sealed, "pack-2");
    expect(a.readyBytes).toBe(0); // its base has not come
    a.take(f.base.id, f.base.sealed, "pack-1");
    a.take(f.versions[1]!.blob.id, f.versions[1]!.blob.sealed, "pack-3");
    expect(a.readyBytes).toBe(2 * 32 * 1024);
    const first = a.next(1); // at least one, window permitting
    expect(first.blobs.map((b) => b.id)).toEqual([f.versions[0]!.blob.id]);
    expect(first.plains[0]).toEqual(f.versions[0]!.plain);
    expect(a.next(1024 * 1024).plains[0]).toEqual(f.versions[1]!.plain);
    expect(a.waiting).toBe(1);
    // The base is still held for the third version, which comes after it.
    a.take(f.versions[2]!.blob.id, f.versions[2]!.blob.sealed, "pack-4");
    expect(a.next(1024 * 1024).plains[0]).toEqual(f.versions[2]!.plain);
    expect(a.waiting).toBe(0);
    expect(a.heldBytes).toBe(0);
    expect(a.peakHeldBytes).toBe(f.base.sealed.byteLength + f.versions[0]!.blob.sealed.byteLength + f.versions[1]!.blob.sealed.byteLength);
  });

  it("holds no more than its bound: what finds no room is left over for the caller to read apart", () => {
    const f = family(3);
    const small = f.versions[0]!.blob.sealed.byteLength + f.versions[1]!.blob.sealed.byteLength;
    const a = new DeltaAssembler(keys, held(f), small);
    for (const v of f.versions) a.take(v.blob.id, v.blob.sealed, "pack-2");
    a.take(f.base.id, f.base.sealed, "pack-1"); // no room left for the base
    expect(a.peakHeldBytes).toBeLessThanOrEqual(small);
    expect(a.readyBytes).toBe(0);
    expect(a.leftovers().map((b) => b.id)).toEqual(f.versions.map((v) => v.blob.id));
    expect(a.waiting).toBe(0);
    expect(a.heldBytes).toBe(0);
  });

  it("hands over a base shared by several deltas once, beside them, and its sealed batch decodes as next() does", () => {
    const f = family(4);
    const a = new DeltaAssembler(keys, held(f));
    for (const v of f.versions) a.take(v.blob.id, v.blob.sealed, "pack-2");
    a.take(f.base.id, f.base.sealed, "pack-1");
    const batch = a.nextSealed(1024 * 1024);
    expect(batch.blobs.map((b) => b.id)).toEqual(f.versions.map((v) => v.blob.id));
    // The base once, first; then the four deltas, all in one buffer of its own (movable to a worker).
    expect(batch.items.map((i) => i.id)).toEqual([f.base.id, ...f.versions.map((v) => v.blob.id)]);
    expect(batch.bytes.byteLength).toBe(f.base.sealed.byteLength + f.versions.reduce((n, v) => n + v.blob.sealed.byteLength, 0));
    expect(batch.bytes.buffer.byteLength).toBe(batch.bytes.byteLength);
    const plains = decodeHeldDeltas(keys, batch.bytes, batch.items, batch.targets);
    plains.forEach((p, i) => expect(p.equals(f.versions[i]!.plain)).toBe(true));
    // Everything was dropped as it was handed over.
    expect(a.heldBytes).toBe(0);
    expect(a.waiting).toBe(0);
  });

  it("refuses a delta whose base is not among the blobs read", () => {
    const f = family(1);
    expect(() => new DeltaAssembler(keys, held(f).slice(1))).toThrow(/base/);
  });
});
