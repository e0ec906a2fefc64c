// Gear tables: the 256 random 64-bit values the gear hash adds, one per byte value.
//
// Whoever knows the table can predict cut points from content, and chunk sizes leak through
// encryption; so a repository derives its table from its master key (gearTableFromKey). The
// default table and the seeded variant exist to match the `fastcdc` crate and its test vectors.

import { createHash, createHmac } from "node:crypto";
import { UsageError } from "../errors.ts";

const GEAR_ENTRIES = 256;
const GEAR_KEY_BYTES = 32;
const U64 = (1n << 64n) - 1n;

let defaultTable: BigUint64Array | undefined;

/** The `fastcdc` crate's table: GEAR[i] = first 8 bytes (big-endian) of MD5 of 64 bytes equal to i. */
export function defaultGearTable(): BigUint64Array {
  if (!defaultTable) {
    defaultTable = new BigUint64Array(GEAR_ENTRIES);
    for (let i = 0; i < GEAR_ENTRIES; i++) {
      const digest = createHash("md5").update(Buffer.alloc(64, i)).digest();
      defaultTable[i] = digest.readBigUInt64BE(0);
    }
  }
  // A copy each time: callers may change theirs without touching anyone else's.
  return defaultTable.slice();
}

/**
 * The crate's seeded table: GEAR'[i] = GEAR[i] XOR seed (seed 0 is the default table). Its shifted
 * table, GEAR_LS[i] XOR (seed << 1), is exactly shiftedGearTable() of this one.
 */
export function gearTableFromSeed(seed: bigint): BigUint64Array {
  if (typeof seed !== "bigint" || seed < 0n || seed > U64) {
    throw new UsageError(`gear seed must be a bigint in [0, 2^64), got ${String(seed)}`);
  }
  const table = defaultGearTable();
  for (let i = 0; i < GEAR_ENTRIES; i++) table[i] = table[i]! ^ seed;
  return table;
}

/**
 * A table derived from a 32-byte secret: GEAR[i] = first 8 bytes (big-endian) of
 * HMAC-SHA256(key, "clawback gear " + i). Deterministic, so the same key always cuts the same way.
 */
export function gearTableFromKey(key: Uint8Array): BigUint64Array {
  if (!(key instanceof Uint8Array) || key.length !== GEAR_KEY_BYTES) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new UsageError(`gear key must be ${GEAR_KEY_BYTES} bytes, got ${got}`);
  }
  const table = new BigUint64Array(GEAR_ENTRIES);
  for (let i = 0; i < GEAR_ENTRIES; i++) {
    const mac = createHmac("sha256", key).update(`clawback gear ${i}`).digest();
    table[i] = mac.readBigUInt64BE(0);
  }
  return table;
}

/** GEAR_LS[i] = GEAR[i] << 1 (mod 2^64): the table for the first byte of each two-byte step. */
export function shiftedGearTable(gear: BigUint64Array): BigUint64Array {
  const shifted = new BigUint64Array(GEAR_ENTRIES);
  for (let i = 0; i < GEAR_ENTRIES; i++) shifted[i] = (gear[i]! << 1n) & U64;
  return shifted;
}

/** Throws UsageError unless `gear` is a BigUint64Array of 256 entries. */
export function checkGearTable(gear: unknown): asserts gear is BigUint64Array {
  if (!(gear instanceof BigUint64Array) || gear.length !== GEAR_ENTRIES) {
    const got = gear instanceof BigUint64Array ? `${gear.length} entries` : typeof gear;
    throw new UsageError(`gear table must be a BigUint64Array of ${GEAR_ENTRIES} entries, got ${got}`);
  }
}
