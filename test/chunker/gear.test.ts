// Gear tables: the crate's default and seeded tables, and the key-derived table a repository uses.

import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  defaultGearTable,
  gearTableFromKey,
  gearTableFromSeed,
  shiftedGearTable,
} from "../../src/chunker/index.ts";
import { UsageError } from "../../src/errors.ts";
import { pseudoRandom } from "./helpers.ts";

const key = (fill: number) => new Uint8Array(32).fill(fill);

describe("gear tables", () => {
  it("the default table is the crate's MD5 table", () => {
    const gear = defaultGearTable();
    expect(gear.length).toBe(256);
    expect(gear[0]).toBe(0x3b5d3c7d207e37dcn);
    expect(gear[1]).toBe(0x784d68ba91123086n);
    expect(gear[255]).toBe(0xaabd2b2a451504e1n);
    // and its shifted table is the crate's GEAR_LS
    const shifted = shiftedGearTable(gear);
    expect(shifted[0]).toBe(0x76ba78fa40fc6fb8n);
    expect(shifted[255]).toBe(0x557a56548a2a09c2n);
  });

  it("callers get their own copy of the default table", () => {
    const mine = defaultGearTable();
    mine[0] = 0n;
    expect(defaultGearTable()[0]).toBe(0x3b5d3c7d207e37dcn);
  });

  it("a seed XORs every entry; seed 0 is the default", () => {
    expect(gearTableFromSeed(0n)).toEqual(defaultGearTable());
    const seeded = gearTableFromSeed(666n);
    const base = defaultGearTable();
    for (let i = 0; i < 256; i++) expect(seeded[i]).toBe(base[i]! ^ 666n);
    // GEAR_LS' = GEAR_LS ^ (seed << 1) is the shift of the seeded table
    const shifted = shiftedGearTable(seeded);
    const baseShifted = shiftedGearTable(base);
    for (let i = 0; i < 256; i++) expect(shifted[i]).toBe(baseShifted[i]! ^ (666n << 1n));
    expect(() => gearTableFromSeed(-1n)).toThrow(UsageError);
    expect(() => gearTableFromSeed(1n << 64n)).toThrow(UsageError);
  });

  it("a key-derived table is HMAC-SHA256(key, 'clawback gear ' + i), first 8 bytes big-endian", () => {
    const gear = gearTableFromKey(key(1));
    for (const i of [0, 17, 255]) {
      const mac = createHmac("sha256", key(1)).update(`clawback gear ${i}`).digest();
      expect(gear[i]).toBe(mac.readBigUInt64BE(0));
    }
    expect(gearTableFromKey(key(1))).toEqual(gear);
    expect(gearTableFromKey(key(2))).not.toEqual(gear);
    expect(new Set(gear).size).toBe(256);
  });

  it("rejects keys that are not 32 bytes", () => {
    expect(() => gearTableFromKey(new Uint8Array(16))).toThrow(UsageError);
    expect(() => gearTableFromKey(new Uint8Array(16))).toThrow(/32 bytes, got 16 bytes/);
    expect(() => gearTableFromKey("secret" as unknown as Uint8Array)).toThrow(UsageError);
  });
});

describe("seeded chunking", () => {
  const data = pseudoRandom(8 * 1024 * 1024, 12);

  it("a key-derived table changes cut points, and the same key always cuts the same way", async () => {
    const plain = (await Chunker.create(DEFAULT_CHUNKER_PARAMS)).cut(data);
    const keyed = (await Chunker.create(DEFAULT_CHUNKER_PARAMS, gearTableFromKey(key(9)))).cut(data);
    const again = (await Chunker.create(DEFAULT_CHUNKER_PARAMS, gearTableFromKey(key(9)))).cut(data);
    const other = (await Chunker.create(DEFAULT_CHUNKER_PARAMS, gearTableFromKey(key(10)))).cut(data);
    expect(keyed).toEqual(again);
    expect(keyed).not.toEqual(plain);
    expect(other).not.toEqual(keyed);
    for (const lengths of [plain, keyed, other]) expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
    // Boundaries, not just sizes, differ: few cut offsets are shared.
    const offsets = (lengths: number[]) => new Set(lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0)));
    const plainOffsets = offsets(plain);
    const shared = [...offsets(keyed)].filter((o) => plainOffsets.has(o) && o !== data.length);
    expect(shared.length).toBeLessThan(keyed.length / 4);
  });

  it("rejects a gear table of the wrong shape", async () => {
    await expect(Chunker.create(DEFAULT_CHUNKER_PARAMS, new BigUint64Array(255))).rejects.toThrow(UsageError);
    await expect(
      Chunker.create(DEFAULT_CHUNKER_PARAMS, new Uint32Array(256) as unknown as BigUint64Array),
    ).rejects.toThrow(/BigUint64Array of 256 entries/);
  });
});
