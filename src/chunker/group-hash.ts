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

/** Where hashRange puts the hashes of `length` bytes: after them, at a multiple of 8 (the kernel stores 64-bit words). */
const hashesAt = (length: number) => Math.ceil(length / 8) * 8;

/** One kernel instance with its own memory, which holds the bytes to hash (`input`). */
export class GroupHasher {
  /** The instance's memory: bytes put here are hashed in place by hashRange (no copy). */
  readonly input: Uint8Array;
  private readonly groupsFn: (src: number, len: number, groupLen: number, lo: bigint, hi: bigint, out: number) => void;

  private constructor(memory: ArrayBuffer, exports: Record<string, unknown>) {
    this.input = new Uint8Array(memory);
    this.groupsFn = exports.hashGroups as GroupHasher["groupsFn"];
  }

  /** An instance whose memory holds at least `capacity` bytes (fixed: views of it stay valid). */
  static async create(capacity: number): Promise<GroupHasher> {
    const { exports, memory } = await instantiateWithMemory(groupHashModule(), capacity);
    if (typeof exports.hashGroups !== "function") throw new Error(`${GROUP_HASH_URL.pathname} is not the group-hash kernel`);
    return new GroupHasher(memory, exports);
  }

  /** The memory an instance needs to hash `length` bytes in groups of `groupBytes` (see hashRange). */
  static capacityFor(length: number, groupBytes: number): number {
    return hashesAt(length) + Math.ceil(length / groupBytes) * GROUP_HASH_BYTES;
  }

  /**
   * Hashes input[0, length) as consecutive groups of `groupBytes` (the last may be shorter), in
   * one call into the kernel, and returns their hashes, 16 bytes each in order: a view of this
   * instance's memory just after the bytes, valid until its next use.
   */
  hashRange(length: number, groupBytes: number, seed: readonly [bigint, bigint]): Uint8Array {
    const out = hashesAt(length);
    const end = GroupHasher.capacityFor(length, groupBytes);
    if (!(groupBytes >= 1) || end > this.input.byteLength) throw new RangeError(`no room to hash ${length} bytes in groups of ${groupBytes}`);
    this.groupsFn(0, length, groupBytes, seed[0], seed[1], out);
    return this.input.subarray(out, end);
  }

  /** Writes the 16-byte hash of `data` (one group, copied into the instance's memory) into `out` at `at`. */
  hashInto(data: Uint8Array, seed: readonly [bigint, bigint], out: Uint8Array, at: number): void {
    if (data.byteLength === 0) throw new RangeError("an empty group has no hash");
    this.input.set(data, 0);
    out.set(this.hashRange(data.byteLength, data.byteLength, seed), at);
  }
}
