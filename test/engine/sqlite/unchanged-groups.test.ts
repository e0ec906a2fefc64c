import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { backup, DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { editOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { deriveKeys, generateMasterKey } from "../../../src/crypto/keys.ts";
import { GROUP_HASH_BYTES, GROUP_HASH_URL } from "../../../src/chunker/group-hash.ts";
import { groupHashSeed, UnchangedGroups } from "../../../src/engine/sqlite/unchanged-groups.ts";
import { committedDatabase } from "../../helpers/committed-database.ts";

const SEED = groupHashSeed(deriveKeys(generateMasterKey()));

let nextId = 0;

/** Runs one pass of `groups` over `data` cut into `size`-byte groups; the inner sink hands out ids never used before. */
async function pass(groups: UnchangedGroups, data: Buffer, size: number, stillStored = (_: string) => true) {
  const inner: number[] = [];
  let skipped = 0;
  const sink = groups.sink(
    async (g) => {
      inner.push(g.byteLength);
      return `id-${nextId++}`;
    },
    stillStored,
    () => skipped++,
  );
  const ids: string[] = [];
  for (let off = 0; off < data.length; off += size) ids.push(await sink(data.subarray(off, Math.min(off + size, data.length))));
  return { ids, inner: inner.length, skipped, hashes: groups.result() };
}

describe("unchanged page groups are recognised by a seeded 128-bit hash", () => {
  const scratch = useScratch();

  it("a group hashes differently after any one-bit change, another length or another repository's seed", async () => {
    const group = randomBytes(32768 + 13); // a tail after the last 32-byte stripe too
    const hashOf = async (data: Uint8Array, seed = SEED) => (await pass(new UnchangedGroups(seed, undefined), Buffer.from(data), data.length)).hashes;
    const base = await hashOf(group);
    expect(base.byteLength).toBe(GROUP_HASH_BYTES);
    expect(await hashOf(Buffer.from(group))).toEqual(base);
    const seen = new Set([Buffer.from(base).toString("hex")]);
    for (const at of [0, 7, 8, 31, 32, 4095, 16384, 32767, 32768, 32770, group.length - 1]) {
      for (const bit of [0, 7]) {
        const flipped = Buffer.from(group);
        flipped[at]! ^= 1 << bit;
        seen.add(Buffer.from(await hashOf(flipped)).toString("hex"));
      }
    }
    seen.add(Buffer.from(await hashOf(group.subarray(0, group.length - 1))).toString("hex"));
    seen.add(Buffer.from(await hashOf(Buffer.concat([group, Buffer.alloc(1)]))).toString("hex"));
    seen.add(Buffer.from(await hashOf(group, groupHashSeed(deriveKeys(generateMasterKey())))).toString("hex"));
    expect(seen.size).toBe(1 + 11 * 2 + 3);
    // Zero bytes are not "nothing": groups of zeros of different lengths differ.
    expect(await hashOf(Buffer.alloc(4096))).not.toEqual(await hashOf(Buffer.alloc(8192)));
  });

  it("a group equal to the one at its place last time gets its previous id without reaching the sink; a changed one, or one no longer stored, does", async () => {
    const size = 32768;
    const first = randomBytes(size * 10 + 100);
    const one = await pass(new UnchangedGroups(SEED, undefined), first, size);
    expect(one.inner).toBe(11);

    const second = Buffer.from(first);
    second[size * 3 + 5]! ^= 0xff; // group 3 changes
    second[size * 10 + 50]! ^= 0x01; // and the short last one
    const two = await pass(new UnchangedGroups(SEED, { hashes: one.hashes, chunks: one.ids }), second, size);
    expect(two.inner).toBe(2);
    expect(two.skipped).toBe(9);
    expect(two.ids.filter((id, i) => id === one.ids[i])).toHaveLength(9);
    expect(two.ids[3]).not.toBe(one.ids[3]);
    expect(two.ids[10]).not.toBe(one.ids[10]);

    // Group 0's previous id is gone from the repository: it goes to the sink again.
    const three = await pass(new UnchangedGroups(SEED, { hashes: two.hashes, chunks: two.ids }), second, size, (id) => id !== two.ids[0]);
    expect(three.inner).toBe(1);
    // A moved group (same bytes, another place) is not taken from elsewhere: places are compared.
    const shifted = Buffer.concat([second.subarray(size), second.subarray(0, size)]);
    const four = await pass(new UnchangedGroups(SEED, { hashes: two.hashes, chunks: two.ids }), shifted, size);
    expect(four.skipped).toBe(0);
    // Hashes that do not line up with the ids (a stale cache row) are not used at all.
    const five = await pass(new UnchangedGroups(SEED, { hashes: two.hashes.subarray(16), chunks: two.ids }), second, size);
    expect(five.skipped).toBe(0);
  });

  it("a database changed between commits restores to exactly its captured state, and its group hashes are kept per file", async () => {
    const { t, src, db } = await committedDatabase(scratch, "openclaw.sqlite", 6 * 1024 * 1024);
    for (const [round, edit] of (["update-random", "append", "update-recent"] as const).entries()) {
      editOpenClawLikeDb(db, edit, 0.03, 20 + round);
      const expected = path.join(await scratch.dir("expected"), "copy.sqlite");
      const source = new DatabaseSync(db, { readOnly: true });
      await backup(source, expected);
      source.close();
      const { snapshot, warnings } = await t.repo.commit(src);
      expect(warnings).toEqual([]);
      const out = await scratch.dir("out");
      await t.repo.checkout(snapshot.id, out, { safetySnapshot: false });
      const restored = new DatabaseSync(path.join(out, "openclaw.sqlite"), { readOnly: true });
      const want = new DatabaseSync(expected, { readOnly: true });
      const dump = (d: DatabaseSync) => JSON.stringify(d.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all().map((r) => d.prepare(`SELECT * FROM "${String(r.name)}" ORDER BY rowid`).all()));
      expect(dump(restored)).toBe(dump(want));
      restored.close();
      want.close();
    }
  });

  it("rebuilding wasm/assembly/grouphash.ts reproduces wasm/build/grouphash.wasm byte for byte", async () => {
    const dir = await scratch.dir("wasm");
    const out = path.join(dir, "grouphash.wasm");
    await promisify(execFile)(process.execPath, [fileURLToPath(new URL("../../../wasm/build.mjs", import.meta.url)), "--kernel", "grouphash", "--out", out]);
    expect(Buffer.compare(await fs.readFile(out), await fs.readFile(GROUP_HASH_URL))).toBe(0);
  });
});
