import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { buildOpenClawLikeDb, editOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { PASSPHRASE, type TestRepo } from "../../helpers/repo.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { lockKey } from "../../../src/repo/layout.ts";
import { sealJson } from "../../../src/repo/sealed-json.ts";
import { deriveKeys, type RepoKeys } from "../../../src/crypto/keys.ts";
import { decodeManifest } from "../../../src/repo/manifest.ts";
import { parseKeyFile, unwrapMasterKey } from "../../../src/crypto/keyfile.ts";

const HEX = "0123456789abcdef".repeat(4);

/** Writes what a put killed mid-write leaves: `<key>.tmp-<random>` with some of the object's bytes. */
async function plantPartial(t: TestRepo, key: string, ageMs = 0): Promise<string> {
  const file = path.join(t.url, ...`${key}.tmp-${Math.random().toString(16).slice(2, 14)}`.split("/"));
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, randomBytesFrom(prng(7), 100_000));
  if (ageMs) {
    const then = new Date(Date.now() - ageMs);
    await fs.utimes(file, then, then);
  }
  return file;
}

async function repoKeys(t: TestRepo): Promise<RepoKeys> {
  const keyName = (await fs.readdir(path.join(t.url, "keys"))).find((n) => !n.includes(".tmp-"))!;
  return deriveKeys((await unwrapMasterKey(parseKeyFile(keyName, await fs.readFile(path.join(t.url, "keys", keyName))), PASSPHRASE))!);
}

const exists = (file: string) => fs.stat(file).then(() => true, () => false);

describe("prune and check with leftovers of killed commands", () => {
  const scratch = useScratch();

  it("partial writes of killed commits are reported by check (a warning) and removed by prune", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "a.bin"), randomBytesFrom(prng(1), 300_000));
    await t.repo.commit(src);
    const pack = await plantPartial(t, `data/ab/ab${HEX.slice(2)}`);
    const manifest = await plantPartial(t, `index/${HEX}`);
    const keyFile = await plantPartial(t, `keys/${HEX}`);

    const check = await t.repo.check();
    expect(check.ok).toBe(true);
    expect(check.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^data\/ab\/ab[0-9a-f]+\.tmp-\w+ \(100000 bytes\) is a partial write of an interrupted command/)]));
    expect(check.warnings.filter((w) => w.includes("partial write"))).toHaveLength(2);

    const dry = await t.repo.prune({ dryRun: true });
    expect(dry.partialWritesDeleted).toBe(2);
    expect(await exists(pack)).toBe(true);
    const done = await t.repo.prune();
    expect(done.partialWritesDeleted).toBe(2);
    expect(done.bytesFreed).toBeGreaterThanOrEqual(200_000);
    expect(await exists(pack)).toBe(false);
    expect(await exists(manifest)).toBe(false);
    // keys/ is written without the exclusive lock (key add): not prune's to judge.
    expect(await exists(keyFile)).toBe(true);
    expect((await t.repo.check({ readData: true })).warnings.filter((w) => w.includes("partial write"))).toEqual([]);
  });

  it("after setting aside a lock of another machine (maybe only suspended), prune keeps partial writes younger than the grace period", async () => {
    const t = await scratch.repo();
    const keys = await repoKeys(t);
    const old = new Date(Date.now() - 31 * 60_000).toISOString();
    await new LocalBackend(t.url).put(lockKey("cd".repeat(16)), sealJson(keys.encryption, "lock", { host: "a-suspended-laptop", pid: 77, time: old, exclusive: false, purpose: "commit" }));
    const recent = await plantPartial(t, `data/ab/ab${HEX.slice(2)}`, 5 * 60_000);
    const abandoned = await plantPartial(t, `data/cd/cd${HEX.slice(2)}`, 2 * 60 * 60_000);
    expect((await t.repo.prune()).partialWritesDeleted).toBe(1);
    expect(await exists(recent)).toBe(true);
    expect(await exists(abandoned)).toBe(false);
    // Nothing is set aside now: the next prune takes the rest.
    expect((await t.repo.prune()).partialWritesDeleted).toBe(1);
    expect(await exists(recent)).toBe(false);
  });

  /**
   * Day 1 stores a database whole (its groups become bases); day 2 stores its changed groups as
   * deltas, in one pack with a large new file; day 3 has the large file and no database. With
   * days 1 and 2 forgotten, day 2's pack stays (the large file fills it) with its dead deltas,
   * while day 1's packs hold nothing any snapshot lists.
   */
  async function deltasOutlivingTheirSnapshots(t: TestRepo): Promise<string[]> {
    const src = await scratch.dir("src");
    const db = path.join(src, "state.sqlite");
    buildOpenClawLikeDb(db, 4 * 1024 * 1024);
    const day1 = (await t.repo.commit(src)).snapshot.id;
    editOpenClawLikeDb(db, "update-random", 0.02, 11);
    await fs.writeFile(path.join(src, "large.bin"), randomBytesFrom(prng(3), 6 * 1024 * 1024));
    const day2 = (await t.repo.commit(src)).snapshot.id;
    await fs.rm(db);
    const day3 = (await t.repo.commit(src)).snapshot.id;
    await t.repo.forget([day1, day2]);
    return [day1, day2, day3];
  }

  it("prune never leaves a delta whose base it deleted: check --read-data passes afterwards (from a fresh cache too)", async () => {
    const t = await scratch.repo();
    const [, , day3] = await deltasOutlivingTheirSnapshots(t);
    await t.repo.prune();
    expect((await t.repo.check({ readData: true })).errors).toEqual([]);
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache") });
    expect((await fresh.check({ readData: true })).errors).toEqual([]);
    const out = path.join(await scratch.dir("out"), "restored");
    await fresh.checkout(day3!, out);
    expect((await fs.stat(path.join(out, "large.bin"))).size).toBe(6 * 1024 * 1024);
  });

  it("prune repairs a repository an older prune left with deltas whose base is gone", async () => {
    const t = await scratch.repo();
    await deltasOutlivingTheirSnapshots(t);
    // What the older prune did: day 1's packs and the manifest listing them deleted, day 2's pack kept whole.
    const names = await fs.readdir(path.join(t.url, "index"));
    const written = await Promise.all(names.map(async (n) => ({ n, at: (await fs.stat(path.join(t.url, "index", n))).mtimeMs })));
    const day1Manifest = written.sort((a, b) => a.at - b.at)[0]!.n;
    const listed = decodeManifest(await repoKeys(t), await fs.readFile(path.join(t.url, "index", day1Manifest)), `index/${day1Manifest}`);
    for (const p of listed.packs) await fs.rm(path.join(t.url, "data", p.id.slice(0, 2), p.id));
    await fs.rm(path.join(t.url, "index", day1Manifest));

    const broken = await t.reopen({ cacheDir: await scratch.dir("cache") });
    expect((await broken.check({ readData: true })).errors.join("\n")).toMatch(/not found in the repository index/);
    const pruned = await broken.prune();
    expect(pruned.packsRepacked).toBeGreaterThan(0);
    expect((await broken.check({ readData: true })).errors).toEqual([]);
  });
});
