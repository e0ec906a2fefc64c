// Chunker parameters: their limits, their validation, and the normalization masks derived from them.
// These parameters are recorded in a repository's config; changing any of them changes every cut
// point, so the derivation here is part of the repository format.

import { ConfigError } from "../errors.ts";

export interface ChunkerParams {
  /** No chunk is shorter, except the last one of a stream. */
  minSize: number;
  /** The size the cut-point masks aim for. */
  avgSize: number;
  /** No chunk is longer: a cut is forced here when the content offers none. */
  maxSize: number;
  /** Normalized chunking level, 0..3: higher keeps chunk sizes closer to avgSize. */
  normalization: number;
}

export const DEFAULT_CHUNKER_PARAMS: ChunkerParams = {
  minSize: 16 * 1024,
  avgSize: 64 * 1024,
  maxSize: 256 * 1024,
  normalization: 1,
};

/** Inclusive bounds of each parameter; the sizes are those the Rust crate `fastcdc` accepts. */
export const CHUNKER_LIMITS: { readonly [K in keyof ChunkerParams]: readonly [number, number] } = {
  minSize: [64, 1_048_576],
  avgSize: [256, 4_194_304],
  maxSize: [1024, 16_777_216],
  normalization: [0, 3],
};

const PARAM_NAMES = ["minSize", "avgSize", "maxSize", "normalization"] as const;

/**
 * Checks every parameter and returns a clean copy. Throws ConfigError naming the parameter at fault
 * (as `chunker.<name>`), so a bad repository config or option is reported by its key.
 */
export function validateChunkerParams(params: ChunkerParams): ChunkerParams {
  if (typeof params !== "object" || params === null) {
    throw new ConfigError("chunker", `expected an object with ${PARAM_NAMES.join(", ")}`);
  }
  for (const name of PARAM_NAMES) {
    const value: unknown = params[name];
    const [low, high] = CHUNKER_LIMITS[name];
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new ConfigError(`chunker.${name}`, `must be an integer, got ${describe(value)}`);
    }
    if (value < low || value > high) {
      throw new ConfigError(`chunker.${name}`, `must be between ${low} and ${high}, got ${value}`);
    }
  }
  const { minSize, avgSize, maxSize, normalization } = params;
  if (minSize > avgSize) {
    throw new ConfigError("chunker.minSize", `must not exceed avgSize (${avgSize}), got ${minSize}`);
  }
  if (avgSize > maxSize) {
    throw new ConfigError("chunker.maxSize", `must not be less than avgSize (${avgSize}), got ${maxSize}`);
  }
  return { minSize, avgSize, maxSize, normalization };
}

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  return value === null ? "null" : typeof value;
}

// Cut-point masks by number of one bits, as in the `fastcdc` crate (from the C reference
// implementation and restic-FastCDC): bits spread over the upper half so that the gear hash's
// better-mixed high bits decide. Index = number of bits; 0..4 are never selected.
const MASKS: readonly bigint[] = [
  0n, 0n, 0n, 0n, 0n,
  0x0000000001804110n, // 5, only reached with normalization 3
  0x0000000001803110n,
  0x0000000018035100n,
  0x0000001800035300n,
  0x0000019000353000n,
  0x0000590003530000n, // 10: 1 KiB
  0x0000d90003530000n,
  0x0000d90103530000n,
  0x0000d90303530000n,
  0x0000d90313530000n,
  0x0000d90f03530000n,
  0x0000d90303537000n, // 16: 64 KiB
  0x0000d90703537000n,
  0x0000d90707537000n,
  0x0000d91707537000n,
  0x0000d91747537000n, // 20: 1 MiB
  0x0000d91767537000n,
  0x0000d93767537000n,
  0x0000d93777537000n,
  0x0000d93777577000n,
  0x0000db3777577000n, // 25, only reached with normalization 3
];

export interface NormalizationMasks {
  /** Harder to match (more bits): used before avgSize, so chunks rarely end early. */
  small: bigint;
  /** Easier to match (fewer bits): used after avgSize, so chunks rarely run to maxSize. */
  large: bigint;
}

/** bits = round(log2(avgSize)); small = MASKS[bits + level], large = MASKS[bits - level]. */
export function normalizationMasks(avgSize: number, normalization: number): NormalizationMasks {
  const bits = Math.round(Math.log2(avgSize));
  const small = MASKS[bits + normalization];
  const large = MASKS[bits - normalization];
  if (small === undefined || large === undefined || bits - normalization < 5) {
    throw new ConfigError("chunker.avgSize", `no mask for avgSize ${avgSize} at normalization ${normalization}`);
  }
  return { small, large };
}
