// The page-group hash kernel (wasm/build/grouphash.wasm, built from wasm/assembly/grouphash.ts): a
// seeded 128-bit non-cryptographic hash. engine/sqlite/unchanged-groups.ts says what it is used for
// and docs/sqlite.md why a collision cannot silently store wrong data in practice. It sits with the
// chunking kernel because both are wasm over a caller's bytes, and the codec worker runs it too.

import { compiledOnce, instantiateWithMemory } from "./wasm-module.ts";

/** Bytes of one group's hash in a hash list: two 64-bit halves, little-endian. */
export const GROUP_HASH_BYTES = 16;

/** Where the committed kernel lives; the same relative path from src/chunker and dist/chunker. */
export const GROUP_HASH_URL: URL = new URL("../../wasm/build/grouphash.wasm", import.meta.url);

const groupHashModule = compiledOnce(GROUP_HASH_URL);

/** One kernel instance with its own memory, which holds the bytes to hash (`input`). */
export class GroupHasher {
  /** The instance's memory: bytes put here are hashed in place by hashAt (no copy). */
  readonly input: Uint8Array;
  private readonly hashFn: (src: number, len: number, lo: bigint, hi: bigint) => bigint;
  private readonly highFn: () => bigint;
  private readonly groupsFn: (src: number, len: number, groupLen: number, lo: bigint, hi: bigint, out: number) => void;

  private constructor(memory: ArrayBuffer, exports: Record<string, unknown>) {
    this.input = new Uint8Array(memory);
    this.hashFn = exports.hash as GroupHasher["hashFn"];
    this.highFn = exports.high as GroupHasher["highFn"];
    this.groupsFn = exports.hashGroups as GroupHasher["groupsFn"];
  }

  /** An instance whose memory holds at least `capacity` bytes (fixed: views of it stay valid). */
  static async create(capacity: number): Promise<GroupHasher> {
    const { exports, memory } = await instantiateWithMemory(groupHashModule(), capacity);
    if (typeof exports.hash !== "function" || typeof exports.high !== "function" || typeof exports.hashGroups !== "function") throw new Error(`${GROUP_HASH_URL.pathname} is not the group-hash kernel`);
    return new GroupHasher(memory, exports);
  }

  /** Writes the 16-byte hash of input[offset, offset + length) into `out` at `at`. */
  private hashAt(offset: number, length: number, seed: readonly [bigint, bigint], out: Uint8Array, at: number): void {
    const low = this.hashFn(offset, length, seed[0], seed[1]);
    const view = new DataView(out.buffer, out.byteOffset + at, GROUP_HASH_BYTES);
    view.setBigUint64(0, BigInt.asUintN(64, low), true);
    view.setBigUint64(8, BigInt.asUintN(64, this.highFn()), true);
  }

  /**
   * Hashes input[offset, offset + length) as consecutive groups of `groupBytes` (the last may be
   * shorter) and writes their hashes, 16 bytes each, to input[out...): one call into the kernel
   * for all of them. `out` must be a multiple of 8 and leave room.
   */
  hashGroupsAt(offset: number, length: number, groupBytes: number, seed: readonly [bigint, bigint], out: number): void {
    if (!(groupBytes >= 1) || out % 8 !== 0 || out + Math.ceil(length / groupBytes) * GROUP_HASH_BYTES > this.input.byteLength) throw new RangeError("group hash output out of range");
    this.groupsFn(offset, length, groupBytes, seed[0], seed[1], out);
  }

  /** Writes the 16-byte hash of `data` (copied into the instance's memory) into `out` at `at`. */
  hashInto(data: Uint8Array, seed: readonly [bigint, bigint], out: Uint8Array, at: number): void {
    this.input.set(data, 0);
    this.hashAt(0, data.byteLength, seed, out, at);
  }
}
