// Recognising a database page group that did not change since the file's last stored version,
// without computing its HMAC id: a seeded 128-bit hash from a small WebAssembly kernel
// (wasm/assembly/grouphash.ts) is compared with the hash the same group had last time, and on a
// match the group's previous id is taken. docs/sqlite.md says why a collision cannot silently
// store wrong data in practice, and what it would cost if it did.

import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { RepoKeys } from "../../crypto/keys.ts";

/** Bytes of one group's hash in the hash list: two 64-bit halves. */
export const GROUP_HASH_BYTES = 16;

/** Where the committed kernel lives; the same relative path from src/engine/sqlite and dist/engine/sqlite. */
export const GROUP_HASH_URL: URL = new URL("../../../wasm/build/grouphash.wasm", import.meta.url);

const PAGE = 65536;

// This file's lib (ES2023, no DOM) has no WebAssembly typings; these are the few calls made.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<unknown>;
  instantiate(module: unknown, imports: object): Promise<{ exports: Record<string, unknown> }>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: Promise<unknown> | undefined;

/** One kernel instance with room for inputs of up to `capacity` bytes. */
class GroupHasher {
  readonly capacity: number;
  private readonly memory: Uint8Array;
  private readonly hashFn: (src: number, len: number, lo: bigint, hi: bigint) => bigint;
  private readonly highFn: () => bigint;

  private constructor(capacity: number, memory: WasmMemory, exports: Record<string, unknown>) {
    this.capacity = capacity;
    this.memory = new Uint8Array(memory.buffer);
    this.hashFn = exports.hash as GroupHasher["hashFn"];
    this.highFn = exports.high as GroupHasher["highFn"];
  }

  static async create(capacity: number): Promise<GroupHasher> {
    if (!compiled) {
      compiled = readFile(GROUP_HASH_URL).then((bytes) => wasm.compile(bytes));
      compiled.catch(() => (compiled = undefined));
    }
    const pages = Math.max(1, Math.ceil(capacity / PAGE));
    const memory = new wasm.Memory({ initial: pages, maximum: pages });
    const instance = await wasm.instantiate(await compiled, { env: { memory } });
    if (typeof instance.exports.hash !== "function" || typeof instance.exports.high !== "function") throw new Error(`${GROUP_HASH_URL.pathname} is not the group-hash kernel`);
    return new GroupHasher(pages * PAGE, memory, instance.exports);
  }

  /** Writes the 16-byte hash of `data` into `out` at `at`. */
  hashInto(data: Uint8Array, seed: readonly [bigint, bigint], out: Uint8Array, at: number): void {
    this.memory.set(data, 0);
    const low = this.hashFn(0, data.byteLength, seed[0], seed[1]);
    const view = new DataView(out.buffer, out.byteOffset + at, GROUP_HASH_BYTES);
    view.setBigUint64(0, BigInt.asUintN(64, low), true);
    view.setBigUint64(8, BigInt.asUintN(64, this.highFn()), true);
  }
}

let shared: GroupHasher | undefined;

/** The kernel instance, made again only when a larger group than any before comes along. */
async function hasherFor(bytes: number): Promise<GroupHasher> {
  if (!shared || shared.capacity < bytes) shared = await GroupHasher.create(bytes);
  return shared;
}

/** The repository's seed for the group hash: secret, so no one without the keys can aim at a collision. */
export function groupHashSeed(keys: RepoKeys): [bigint, bigint] {
  const bytes = createHmac("sha256", keys.id).update("clawback page-group hash seed v1").digest();
  return [bytes.readBigUInt64LE(0), bytes.readBigUInt64LE(8)];
}

/** The group hashes of a database's last stored version, and the ids of its groups, by place. */
export interface PreviousGroups {
  hashes: Uint8Array;
  chunks: readonly string[];
}

/**
 * Hashes each page group of one database capture, in file order. `sink` wraps the sink that
 * stores a group: a group whose hash equals the hash of the group at the same place in the last
 * stored version, and whose previous id is still stored (`stillStored`), gets that id back without
 * reaching the inner sink (`skipped` is called instead, so that a sink that counts places keeps
 * count).
 */
export class UnchangedGroups {
  private readonly seed: readonly [bigint, bigint];
  private readonly previous: PreviousGroups | undefined;
  private hashes = new Uint8Array(64 * GROUP_HASH_BYTES);
  private count = 0;
  /** Groups that were recognised as unchanged in the last pass. */
  reused = 0;

  constructor(seed: readonly [bigint, bigint], previous: PreviousGroups | undefined) {
    this.seed = seed;
    this.previous = previous && previous.hashes.byteLength === previous.chunks.length * GROUP_HASH_BYTES ? previous : undefined;
  }

  /** A sink for one pass over the database's groups (a new pass starts over). */
  sink(inner: (data: Uint8Array) => Promise<string>, stillStored: (id: string) => boolean, skipped: () => void = () => {}): (data: Uint8Array) => Promise<string> {
    this.count = 0;
    this.reused = 0;
    return async (data) => {
      const place = this.count++;
      if (this.hashes.byteLength < this.count * GROUP_HASH_BYTES) {
        const grown = new Uint8Array(this.hashes.byteLength * 2);
        grown.set(this.hashes);
        this.hashes = grown;
      }
      const at = place * GROUP_HASH_BYTES;
      (await hasherFor(data.byteLength)).hashInto(data, this.seed, this.hashes, at);
      const prev = this.previous;
      const id = prev?.chunks[place];
      if (prev && id !== undefined && equalAt(prev.hashes, this.hashes, at) && stillStored(id)) {
        this.reused++;
        skipped();
        return id;
      }
      return inner(data);
    };
  }

  /** The hashes of the groups of the last pass, in order (one per chunk id it returned). */
  result(): Uint8Array {
    return this.hashes.slice(0, this.count * GROUP_HASH_BYTES);
  }
}

function equalAt(a: Uint8Array, b: Uint8Array, at: number): boolean {
  for (let i = at; i < at + GROUP_HASH_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}
