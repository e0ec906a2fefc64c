// A database's page groups read and hashed on the codec worker (UnchangedGroups.scan) against the
// same groups hashed on the caller's thread (UnchangedGroups.sink): same ids, same hashes, and
// only the changed groups reach the store.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GROUP_HASH_BYTES, GROUP_HASH_URL, GroupHasher } from "../../../src/chunker/group-hash.ts";
import { deriveKeys, generateMasterKey } from "../../../src/crypto/keys.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import { readPages, type PageSource } from "../../../src/engine/sqlite/page-reader.ts";
import { groupHashSeed, UnchangedGroups, type GroupHashWorker, type PreviousGroups } from "../../../src/engine/sqlite/unchanged-groups.ts";
import { IntegrityError } from "../../../src/errors.ts";
import { useScratch } from "../../helpers/scratch.ts";

const keys = deriveKeys(generateMasterKey());
const SEED = groupHashSeed(keys);
const PAGE = 4096;
const GROUP_PAGES = 8;
const GROUP = PAGE * GROUP_PAGES;
const codec = createCodec(keys, { encode: 1, decode: 0 });
afterAll(() => codec.close());

/** A database-like file: page 1 starts with SQLite's magic, the rest is random. */
function databaseBytes(pages: number): Buffer {
  const bytes = randomBytes(pages * PAGE);
  bytes.write("SQLite format 3\0", 0, "latin1");
  return bytes;
}

/** The state a PageSource stands for: the file's pages with the overlay's laid over them. */
function stateOf(file: Buffer, pages: number, overlay: ReadonlyMap<number, Uint8Array>): Buffer {
  const state = Buffer.from(file.subarray(0, pages * PAGE));
  for (const [page, image] of overlay) if (page <= pages) state.set(image, (page - 1) * PAGE);
  return state;
}

// This project's lib (ES2023, no DOM) has no WebAssembly typings: the few calls the test makes.
interface Wasm {
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

/** The group-hash kernel with its per-group exports, in a memory of its own. */
async function perGroupKernel(bytes: number) {
  const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
  const pages = Math.ceil(bytes / 65536);
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const { instance } = await wasm.instantiate(await fs.readFile(GROUP_HASH_URL), { env: { memory } });
  return { memory, hash: instance.exports.hash as (src: number, len: number, lo: bigint, hi: bigint) => bigint, high: instance.exports.high as () => bigint };
}

let nextId = 0;
const newId = () => `id-${nextId++}`;

/** One pass over `state` on this thread (the sink path). */
async function sinkPass(previous: PreviousGroups | undefined, state: Buffer) {
  const groups = new UnchangedGroups(SEED, previous);
  const stored: Buffer[] = [];
  const sink = groups.sink(async (g) => (stored.push(Buffer.from(g)), newId()), () => true);
  const ids: string[] = [];
  for (let off = 0; off < state.length; off += GROUP) ids.push(await sink(state.subarray(off, Math.min(off + GROUP, state.length))));
  return { ids, hashes: groups.result(), stored };
}

/** The codec's worker, taken as up from the start (so every range goes to it). */
const onWorker: GroupHashWorker = { hash: (range) => codec.hashGroups!(range), up: () => true };
/** A worker that never comes up: the scan reads and hashes every range itself. */
const neverUp: GroupHashWorker = { hash: () => Promise.reject(new Error("not up")), up: () => false };

/** One pass over `source` with its groups read and hashed by `worker`. */
async function scanPass(previous: PreviousGroups | undefined, source: PageSource, worker = onWorker) {
  const groups = new UnchangedGroups(SEED, previous);
  const stored: Buffer[] = [];
  let skipped = 0;
  const { chunks, size } = await groups.scan(source, GROUP_PAGES, worker, async (g) => (stored.push(Buffer.from(g)), newId()), () => true, () => skipped++);
  return { ids: chunks, size, hashes: groups.result(), stored, skipped, reused: groups.reused };
}

describe("a database's groups hashed on the codec worker", () => {
  const scratch = useScratch();

  it("the kernel's one call for a range gives each group the hash its call per group (the `hash` and `high` exports) gives it", async () => {
    const data = randomBytes(GROUP * 5 + 1000); // a short last group
    const hasher = await GroupHasher.create(GroupHasher.capacityFor(data.length, GROUP));
    hasher.input.set(data, 0);
    const range = Buffer.from(hasher.hashRange(data.length, GROUP, SEED));

    // The kernel's per-group entry points, called one group at a time, as the project once did.
    const { memory, hash, high } = await perGroupKernel(data.length);
    const one = Buffer.alloc(6 * GROUP_HASH_BYTES);
    for (let g = 0; g < 6; g++) {
      const group = data.subarray(g * GROUP, Math.min((g + 1) * GROUP, data.length));
      new Uint8Array(memory.buffer).set(group, 0);
      one.writeBigUInt64LE(BigInt.asUintN(64, hash(0, group.length, SEED[0], SEED[1])), g * GROUP_HASH_BYTES);
      one.writeBigUInt64LE(BigInt.asUintN(64, high()), g * GROUP_HASH_BYTES + 8);
    }
    expect(range).toEqual(one);
    // One group alone, as the commit's thread hashes a group of a first capture.
    const single = new Uint8Array(GROUP_HASH_BYTES);
    hasher.hashInto(data.subarray(GROUP, 2 * GROUP), SEED, single, 0);
    expect(Buffer.from(single)).toEqual(one.subarray(GROUP_HASH_BYTES, 2 * GROUP_HASH_BYTES));
  });

  it("gives the ids and hashes the caller's thread gives, over several ranges and a WAL's pages, and only the changed groups are read for storing", async () => {
    const dir = await scratch.dir("scan");
    const pages = 1600 + 3; // 6.25 MiB and a short last group: two ranges of 4 MiB
    const file = databaseBytes(pages + 40); // a longer file: a WAL commit shrank the database
    const overlay = new Map<number, Uint8Array>([1, 2, 900, 1025, 1026, 1599, pages].map((p) => [p, randomBytes(PAGE)]));
    // Page 1's image is a database header too.
    overlay.get(1)!.set(Buffer.from("SQLite format 3\0", "latin1"));
    const dbPath = path.join(dir, "db.sqlite");
    await fs.writeFile(dbPath, file);
    const handle = await fs.open(dbPath, "r");
    try {
      const source: PageSource = { fd: handle.fd, pageSize: PAGE, pages, overlay, where: dbPath };
      const state = stateOf(file, pages, overlay);
      const first = await sinkPass(undefined, state);
      const previous = { hashes: first.hashes, chunks: first.ids };

      // Nothing changed: every id comes back, nothing is read for storing.
      const same = await scanPass(previous, source);
      expect(same.ids).toEqual(first.ids);
      expect(Buffer.from(same.hashes)).toEqual(Buffer.from(first.hashes));
      expect(same.size).toBe(state.length);
      expect(same.stored).toHaveLength(0);
      expect(same.skipped).toBe(first.ids.length);

      // Changes in the file, in the overlay, and in the short last group.
      file[5 * PAGE + 7]! ^= 1; // group 0
      file[700 * PAGE]! ^= 0x80; // group 87
      await fs.writeFile(dbPath, file);
      overlay.set(1025, randomBytes(PAGE)); // group 128: the second range's first
      overlay.set(pages, randomBytes(PAGE)); // the last group
      const changed = stateOf(file, pages, overlay);
      const onThisThread = await sinkPass(previous, changed);
      const scanned = await scanPass(previous, source);
      expect(Buffer.from(scanned.hashes)).toEqual(Buffer.from(onThisThread.hashes));
      const changedGroups = [0, 87, 128, Math.floor((pages - 1) / GROUP_PAGES)];
      expect(scanned.stored.map((g) => g.toString("hex"))).toEqual(changedGroups.map((g) => changed.subarray(g * GROUP, Math.min((g + 1) * GROUP, changed.length)).toString("hex")));
      expect(scanned.ids.filter((id, i) => id === first.ids[i])).toHaveLength(first.ids.length - changedGroups.length);
      expect(scanned.reused).toBe(first.ids.length - changedGroups.length);

      // The same on the scan's own thread, as before the worker is up.
      const here = await scanPass(previous, source, neverUp);
      expect(Buffer.from(here.hashes)).toEqual(Buffer.from(onThisThread.hashes));
      expect(here.stored.map((g) => g.toString("hex"))).toEqual(scanned.stored.map((g) => g.toString("hex")));
      expect(here.reused).toBe(scanned.reused);
    } finally {
      await handle.close();
    }
  });

  it("a page the file lost and no WAL holds fails the scan with an integrity error naming the database, once every range's read is over", async () => {
    const dir = await scratch.dir("scan");
    const pages = 4096; // four ranges of 4 MiB
    const dbPath = path.join(dir, "db.sqlite");
    await fs.writeFile(dbPath, databaseBytes(pages));
    await fs.truncate(dbPath, 1200 * PAGE); // page 1201 vanished: in the second range, with the third on its way
    const handle = await fs.open(dbPath, "r");
    const settled: boolean[] = [];
    const worker: GroupHashWorker = {
      hash: (range) => {
        const i = settled.push(false) - 1;
        return codec.hashGroups!(range).finally(() => (settled[i] = true));
      },
      up: () => true,
    };
    try {
      const groups = new UnchangedGroups(SEED, undefined);
      const err = await groups.scan({ fd: handle.fd, pageSize: PAGE, pages, overlay: new Map(), where: dbPath }, 2, worker, async () => newId(), () => true).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).object).toBe(dbPath);
      expect((err as Error).message).toContain("page 1201");
      expect(settled.every(Boolean)).toBe(true);
    } finally {
      await handle.close();
    }
  });

  it("reads pages by position with the overlay laid over them, and refuses a state whose page 1 is not a database's", async () => {
    const dir = await scratch.dir("pages");
    const file = databaseBytes(8);
    const dbPath = path.join(dir, "db.sqlite");
    await fs.writeFile(dbPath, file);
    const handle = await fs.open(dbPath, "r");
    try {
      const image = randomBytes(PAGE);
      const into = new Uint8Array(3 * PAGE);
      readPages(handle.fd, PAGE, 2 * PAGE, 3 * PAGE, into, (p) => (p === 4 ? image : undefined), dbPath);
      expect(Buffer.from(into)).toEqual(Buffer.concat([file.subarray(2 * PAGE, 3 * PAGE), image, file.subarray(4 * PAGE, 5 * PAGE)]));
      expect(() => readPages(handle.fd, PAGE, 0, PAGE, into, (p) => (p === 1 ? image : undefined), dbPath)).toThrow(/page 1 of the captured state has no SQLite header/);
    } finally {
      await handle.close();
    }
  });
});
