// The chunker layer: content-defined chunking (FastCDC 2020) of byte streams, in bounded memory.

export { Chunker } from "./chunker.ts";
export {
  CHUNKER_LIMITS,
  DEFAULT_CHUNKER_PARAMS,
  normalizationMasks,
  validateChunkerParams,
  type ChunkerParams,
} from "./params.ts";
export {
  defaultGearTable,
  gearTableFromKey,
  gearTableFromSeed,
  shiftedGearTable,
} from "./gear.ts";
export { KERNEL_URL } from "./kernel.ts";
export { windowSizeFor } from "./window.ts";
