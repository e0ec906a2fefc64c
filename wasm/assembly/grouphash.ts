// A seeded 128-bit non-cryptographic hash of a page group, compiled to WebAssembly by
// wasm/build.mjs. The commit uses it only to recognise a database page group that is byte for byte
// what the same place of the same file held last time (src/engine/sqlite/unchanged-groups.ts), so
// that the group's HMAC id need not be computed again; docs/sqlite.md says what guards against a
// collision.
//
// The body is XXH64's: four 64-bit lanes, each `acc = rotl(acc + lane * P2, 31) * P1` over 32-byte
// stripes, with the bytes after the last stripe folded into a fifth accumulator together with the
// length. The four lanes (256 bits of state, each lane's round a bijection) are then finalised
// twice, with different mixes, into two 64-bit halves. hash() returns the low half and leaves the
// high half for high().
//
// Memory is imported; the input sits wherever the caller puts it.

const P1: u64 = 0x9e3779b185ebca87;
const P2: u64 = 0xc2b2ae3d27d4eb4f;
const P3: u64 = 0x165667b19e3779f9;
const P4: u64 = 0x85ebca77c2b2ae63;
const P5: u64 = 0x27d4eb2f165667c5;

let highHalf: u64 = 0;

// @ts-ignore: decorator
@inline
function round(acc: u64, lane: u64): u64 {
  return rotl<u64>(acc + lane * P2, 31) * P1;
}

// @ts-ignore: decorator
@inline
function avalanche(h: u64): u64 {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/** Hashes `len` bytes at `src` with the 128-bit seed (seedLo, seedHi); returns the low 64 bits. */
export function hash(src: usize, len: u32, seedLo: u64, seedHi: u64): u64 {
  let v1: u64 = seedLo + P1 + P2;
  let v2: u64 = seedLo + P2;
  let v3: u64 = seedHi;
  let v4: u64 = seedHi - P1;
  let p = src;
  const end = src + <usize>len;
  while (p + 32 <= end) {
    v1 = round(v1, load<u64>(p));
    v2 = round(v2, load<u64>(p, 8));
    v3 = round(v3, load<u64>(p, 16));
    v4 = round(v4, load<u64>(p, 24));
    p += 32;
  }
  let t: u64 = (<u64>len) * P5 ^ seedHi;
  while (p + 8 <= end) {
    t ^= round(0, load<u64>(p));
    t = rotl<u64>(t, 27) * P1 + P4;
    p += 8;
  }
  while (p < end) {
    t ^= (<u64>load<u8>(p)) * P5;
    t = rotl<u64>(t, 11) * P1;
    p++;
  }
  const low = avalanche((rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18)) ^ t);
  highHalf = avalanche((rotl<u64>(v1, 29) ^ (rotl<u64>(v2, 43) * P3)) + (rotl<u64>(v3, 5) ^ (rotl<u64>(v4, 53) * P4)) + t * P2);
  return low;
}

/** The high 64 bits of the last hash(). */
export function high(): u64 {
  return highHalf;
}

/**
 * Hashes the consecutive groups of `groupLen` bytes in the `len` bytes at `src` (the last group
 * may be shorter) and stores each group's 16 bytes (the low half, then the high, little-endian)
 * one after another from `out`: one call per range instead of one per group, whose 64-bit
 * arguments and result each cross into JavaScript as a BigInt.
 */
export function hashGroups(src: usize, len: u32, groupLen: u32, seedLo: u64, seedHi: u64, out: usize): void {
  let at: u32 = 0;
  let o = out;
  while (at < len) {
    const n = min<u32>(groupLen, len - at);
    store<u64>(o, hash(src + <usize>at, n, seedLo, seedHi));
    store<u64>(o, highHalf, 8);
    o += 16;
    at += n;
  }
}
