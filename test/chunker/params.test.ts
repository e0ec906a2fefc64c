// Parameter validation names the parameter at fault; masks follow the crate's rule.

import { describe, expect, it } from "vitest";
import {
  CHUNKER_LIMITS,
  Chunker,
  DEFAULT_CHUNKER_PARAMS,
  normalizationMasks,
  validateChunkerParams,
  type ChunkerParams,
} from "../../src/chunker/index.ts";
import { ConfigError } from "../../src/errors.ts";

const base = DEFAULT_CHUNKER_PARAMS;

function errorOf(params: ChunkerParams): ConfigError {
  try {
    validateChunkerParams(params);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

describe("chunker parameters", () => {
  it("accepts the defaults and the limits", () => {
    expect(validateChunkerParams(base)).toEqual(base);
    expect(validateChunkerParams({ minSize: 64, avgSize: 256, maxSize: 1024, normalization: 0 })).toBeTruthy();
    expect(
      validateChunkerParams({ minSize: 1_048_576, avgSize: 4_194_304, maxSize: 16_777_216, normalization: 3 }),
    ).toBeTruthy();
  });

  it.each([
    ["minSize", { ...base, minSize: 63 }, /chunker\.minSize: must be between 64 and 1048576, got 63/],
    ["minSize", { ...base, minSize: 1.5 }, /chunker\.minSize: must be an integer, got 1\.5/],
    ["avgSize", { ...base, avgSize: "65536" as unknown as number }, /chunker\.avgSize: must be an integer, got "65536"/],
    ["avgSize", { ...base, avgSize: 5_000_000 }, /chunker\.avgSize: must be between/],
    ["maxSize", { ...base, maxSize: 32 * 1024 * 1024 }, /chunker\.maxSize: must be between 1024 and 16777216/],
    ["maxSize", { ...base, maxSize: NaN }, /chunker\.maxSize: must be an integer, got NaN/],
    ["normalization", { ...base, normalization: 4 }, /chunker\.normalization: must be between 0 and 3, got 4/],
    ["normalization", { ...base, normalization: undefined as unknown as number }, /chunker\.normalization: must be an integer, got undefined/],
    ["minSize", { ...base, minSize: 100_000 }, /chunker\.minSize: must not exceed avgSize \(65536\)/],
    ["maxSize", { ...base, maxSize: 32_768 }, /chunker\.maxSize: must not be less than avgSize \(65536\)/],
  ] as Array<[string, ChunkerParams, RegExp]>)("rejects a bad %s with a ConfigError naming it", (name, params, message) => {
    const error = errorOf(params);
    expect(error.key).toBe(`chunker.${name}`);
    expect(error.message).toMatch(message);
  });

  it("Chunker.create rejects bad parameters", async () => {
    await expect(Chunker.create({ ...base, normalization: -1 })).rejects.toThrow(ConfigError);
    await expect(Chunker.create(null as unknown as ChunkerParams)).rejects.toThrow(ConfigError);
  });

  it("masks: bits = round(log2(avg)), small = MASKS[bits + level], large = MASKS[bits - level]", () => {
    expect(normalizationMasks(16384, 1)).toEqual({ small: 0x0000d90f03530000n, large: 0x0000d90303530000n });
    expect(normalizationMasks(65536, 0)).toEqual({ small: 0x0000d90303537000n, large: 0x0000d90303537000n });
    // 24000 rounds to 2^15 (log2 = 14.55)
    expect(normalizationMasks(24000, 2)).toEqual(normalizationMasks(32768, 2));
    expect(normalizationMasks(CHUNKER_LIMITS.avgSize[0], 3).large).toBe(0x0000000001804110n);
    expect(normalizationMasks(CHUNKER_LIMITS.avgSize[1], 3).small).toBe(0x0000db3777577000n);
    // the mask's popcount is the number of bits
    const popcount = (v: bigint) => v.toString(2).replaceAll("0", "").length;
    for (let bits = 8; bits <= 22; bits++) expect(popcount(normalizationMasks(2 ** bits, 0).small)).toBe(bits);
  });
});
