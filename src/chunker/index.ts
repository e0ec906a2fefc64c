// The chunker layer: content-defined chunking (FastCDC 2020) of byte streams, in bounded memory.

export { Chunker, type ChunkCut } from "./chunker.ts";
export {
  CHUNKER_LIMITS,
  DEFAULT_CHUNKER_PARAMS,
  normalizationMasks,
  validateChunkerParams,
  type ChunkerParams,
  type NormalizationMasks,
} from "./params.ts";
export {
  GEAR_ENTRIES,
  GEAR_KEY_BYTES,
  checkGearTable,
  defaultGearTable,
  gearTableFromKey,
  gearTableFromSeed,
  shiftedGearTable,
} from "./gear.ts";
export { KERNEL_URL } from "./kernel.ts";
export { windowSizeFor } from "./window.ts";
