// A slow, obviously-correct FastCDC 2020 in plain TypeScript (BigInt arithmetic), written from the
// algorithm's description, used as an oracle for the wasm kernel on inputs the vectors don't cover.

import type { ChunkerParams } from "../../src/chunker/index.ts";
import { normalizationMasks, shiftedGearTable } from "../../src/chunker/index.ts";

const U64 = (1n << 64n) - 1n;

export interface ReferenceCut {
  length: number;
  hash: bigint;
}

/** The next chunk of `data` from `start`: the crate's cut() over data[start..]. */
function cutOne(
  data: Uint8Array,
  start: number,
  params: ChunkerParams,
  gear: BigUint64Array,
  gearLs: BigUint64Array,
): ReferenceCut {
  let remaining = data.length - start;
  if (remaining <= params.minSize) return { length: remaining, hash: 0n };
  let center = params.avgSize;
  if (remaining > params.maxSize) remaining = params.maxSize;
  else if (remaining < center) center = remaining;
  const { small, large } = normalizationMasks(params.avgSize, params.normalization);
  let hash = 0n;
  let index = Math.floor(params.minSize / 2);
  const phases: Array<[number, bigint]> = [
    [Math.floor(center / 2), small],
    [Math.floor(remaining / 2), large],
  ];
  for (const [limit, mask] of phases) {
    for (; index < limit; index++) {
      const a = index * 2;
      hash = ((hash << 2n) + gearLs[data[start + a]!]!) & U64;
      if ((hash & (mask << 1n)) === 0n) return { length: a, hash };
      hash = (hash + gear[data[start + a + 1]!]!) & U64;
      if ((hash & mask) === 0n) return { length: a + 1, hash };
    }
  }
  return { length: remaining, hash };
}

export function referenceCuts(data: Uint8Array, params: ChunkerParams, gear: BigUint64Array): ReferenceCut[] {
  const gearLs = shiftedGearTable(gear);
  const cuts: ReferenceCut[] = [];
  for (let start = 0; start < data.length; ) {
    const cut = cutOne(data, start, params, gear, gearLs);
    cuts.push(cut);
    start += cut.length;
  }
  return cuts;
}
