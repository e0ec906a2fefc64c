// FastCDC 2020 cut-point kernel (Xia et al., TPDS 2020), compiled to WebAssembly by wasm/build.mjs.
//
// It matches the `v2020` module of the Rust crate `fastcdc` cut for cut, hash for hash: gear hash,
// cut-point skipping below the minimum size, normalized chunking (a harder mask before the average
// size, an easier one after), and two bytes per step, the first through the left-shifted gear table.
//
// The kernel owns no data and allocates nothing. Its memory is imported, and the JS side
// (src/chunker/kernel.ts) lays it out:
//
//   [0, 2048)     GEAR      u64[256], the gear table (seedable, so it lives in memory, not code)
//   [2048, 4096)  GEAR_LS   u64[256], GEAR[i] << 1
//   elsewhere     a window of input bytes and two result arrays, wherever the caller puts them
//
// Keeping the tables at fixed addresses lets every table lookup be a single load with a constant
// offset.

const GEAR: usize = 0;
const GEAR_LS: usize = 2048;

// Parameters of the current chunker, set once by configure().
let minSize: u32 = 0;
let avgSize: u32 = 0;
let maxSize: u32 = 0;
let maskS: u64 = 0;
let maskL: u64 = 0;

// The gear hash at the last cut, read back by scan() (a second return value, without a struct).
let cutHash: u64 = 0;

/** Sets the chunk sizes and the two normalization masks (computed by the caller from avg and level). */
export function configure(min: u32, avg: u32, max: u32, smallMask: u64, largeMask: u64): void {
  minSize = min;
  avgSize = avg;
  maxSize = max;
  maskS = smallMask;
  maskL = largeMask;
}

/**
 * Hashes [p, limit) two bytes per step, continuing from `hash`, and returns the first cut point
 * under `mask`: the position of the byte that starts the next chunk, or `limit` if there is none (a
 * cut is always before limit - 1, as p and limit are even). Leaves the hash there in cutHash.
 *
 * A match right after the first byte of a step cuts before that byte, a match after the second
 * cuts after it: the crate's behaviour, and so part of the format.
 */
// @ts-ignore: decorator
@inline
function findCut(p: usize, limit: usize, hash: u64, mask: u64): usize {
  const maskLs = mask << 1;
  // Fast pass over 32-byte blocks, one bound test each. A block holding a cut point is left to the
  // exact loop below, which hashes it again from its start. Why this shape (each measured faster,
  // bench/README.md): the loop is bound by instructions per byte and by its serial chain of
  // additions. In each 4 bytes, the hash after the second byte is (h << 2) + (a0 + b1), from the
  // hash before the first, which shortens that chain; and the four table loads come first, as the
  // engine does not move a load above a branch.
  while (p + 32 <= limit) {
    let h = hash;
    {
      const a0 = load<u64>(<usize>load<u8>(p, 0) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 1) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 2) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 3) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 4) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 5) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 6) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 7) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 8) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 9) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 10) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 11) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 12) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 13) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 14) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 15) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 16) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 17) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 18) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 19) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 20) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 21) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 22) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 23) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 24) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 25) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 26) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 27) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    {
      const a0 = load<u64>(<usize>load<u8>(p, 28) << 3, GEAR_LS);
      const b1 = load<u64>(<usize>load<u8>(p, 29) << 3, GEAR);
      const a2 = load<u64>(<usize>load<u8>(p, 30) << 3, GEAR_LS);
      const b3 = load<u64>(<usize>load<u8>(p, 31) << 3, GEAR);
      if ((((h << 2) + a0) & maskLs) == 0) break;
      let v = (h << 2) + (a0 + b1);
      if ((v & mask) == 0) break;
      v = (v << 2) + a2;
      if ((v & maskLs) == 0) break;
      h = v + b3;
      if ((h & mask) == 0) break;
    }
    hash = h;
    p += 32;
  }
  while (p < limit) {
    hash = (hash << 2) + load<u64>(<usize>load<u8>(p) << 3, GEAR_LS);
    if ((hash & maskLs) == 0) {
      cutHash = hash;
      return p;
    }
    hash += load<u64>(<usize>load<u8>(p, 1) << 3, GEAR);
    if ((hash & mask) == 0) {
      cutHash = hash;
      return p + 1;
    }
    p += 2;
  }
  cutHash = hash;
  return limit;
}

/**
 * Length of the chunk that starts at `src`, given `available` (> 0) bytes from there; sets cutHash.
 *
 * Byte for byte the crate's `cut`: start hashing at min/2*2, use maskS until center/2*2, then maskL
 * until remaining/2*2.
 */
// @ts-ignore: decorator
@inline
function cutOne(src: usize, available: u32): u32 {
  if (available <= minSize) {
    cutHash = 0;
    return available;
  }
  let remaining = available;
  let center = avgSize;
  if (remaining > maxSize) {
    remaining = maxSize;
  } else if (remaining < center) {
    center = remaining;
  }
  const centerEnd = src + <usize>(center & ~1);
  let cut = findCut(src + <usize>(minSize & ~1), centerEnd, 0, maskS);
  if (cut < centerEnd) return <u32>(cut - src);
  const end = src + <usize>(remaining & ~1);
  cut = findCut(centerEnd, end, cutHash, maskL);
  // No cut point: the chunk is as long as allowed (maximum size, or the rest of the input).
  return cut < end ? <u32>(cut - src) : remaining;
}

/**
 * Cuts as many chunks as possible from the bytes in [start, end).
 *
 * Unless `final` is set, it stops while fewer than maxSize bytes remain: a cut never looks further
 * than maxSize bytes, so with that many bytes in hand the result is the same as over the whole
 * stream, and with fewer it might not be. It also stops after `capacity` chunks.
 *
 * Chunk i's length goes to u32 lengths[i], its gear hash to u64 hashes[i]. Returns the count.
 */
export function scan(start: usize, end: usize, final: bool, lengths: usize, hashes: usize, capacity: u32): u32 {
  let pos = start;
  let count: u32 = 0;
  while (count < capacity) {
    const available = <u32>(end - pos);
    if (available == 0 || (!final && available < maxSize)) break;
    const length = cutOne(pos, available);
    store<u32>(lengths + (<usize>count << 2), length);
    store<u64>(hashes + (<usize>count << 3), cutHash);
    pos += length;
    count++;
  }
  return count;
}
