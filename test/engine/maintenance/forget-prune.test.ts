import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { AbortedError, LockedError } from "../../../src/errors.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { acquireLock } from "../../../src/repo/lock.ts";
import { deriveKeys } from "../../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../../src/crypto/keyfile.ts";
import type { Repository } from "../../../src/engine/repository.ts";
import { describeTree, makeRandomTree, randomBytesFrom, prng, tempDir } from "../../helpers/tree.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { observedBackend } from "../../helpers/observed-backend.ts";
import { PASSPHRASE, type TestRepo } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";

async function listObjects(repoDir: string, folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(repoDir, folder), { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (e.isFile()) out.push(path.relative(repoDir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

type TreeDescription = Awaited<ReturnType<typeof describeTree>>;

/** Every listed snapshot restores completely and equals what was committed. */
async function assertAllRestorable(repo: Repository, expected: Map<string, TreeDescription>): Promise<void> {
  for (const snap of await repo.log()) {
    const dst = path.join(await tempDir("verify"), "out");
    await repo.checkout(snap.id, dst, { safetySnapshot: false });
    const want = expected.get(snap.id);
    if (want) expect(await describeTree(dst)).toEqual(want);
    await fs.rm(path.dirname(dst), { recursive: true, force: true });
  }
}

describe("forget and prune", () => {
  const scratch = useScratch();

  it("prune frees what forgotten snapshots alone used, repacks mostly-empty packs, and the rest still restores", async () => {
    const t = await scratch.repo({ packSize: 512 * 1024 });
    const src = await scratch.dir("src");
    const expected = new Map<string, TreeDescription>();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      await fs.writeFile(path.join(src, `gen-${i}.bin`), randomBytesFrom(prng(100 + i), 700 * 1024));
      await fs.writeFile(path.join(src, "common.txt"), `shared ${i % 2}`);
      const { snapshot } = await t.repo.commit(src);
      ids.push(snapshot.id);
      expected.set(snapshot.id, await describeTree(src));
      if (i === 1) await fs.rm(path.join(src, "gen-0.bin"));
    }
    const before = await listObjects(t.url, "data");
    const forgot = await t.repo.forget([ids[0]!, ids[1]!.slice(0, 10)]);
    expect(forgot.removed).toEqual([ids[0], ids[1]]);
    const result = await t.repo.prune();
    expect(result.packsDeleted + result.packsRepacked).toBeGreaterThan(0);
    expect(result.bytesFreed).toBeGreaterThan(600 * 1024);
    const after = await listObjects(t.url, "data");
    expect(after).not.toEqual(before);
    expect((await listObjects(t.url, "index")).length).toBe(1);

    // A fresh cache sees the same repository, and it checks clean.
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache") });
    expect((await fresh.log()).map((s) => s.id)).toEqual([ids[2], ids[3]]);
    await assertAllRestorable(fresh, expected);
    const check = await fresh.check({ readData: true });
    expect(check.errors).toEqual([]);
    expect(check.warnings).toEqual([]);
    // Nothing left to do.
    expect(await fresh.prune()).toEqual({ packsDeleted: 0, packsRepacked: 0, partialWritesDeleted: 0, bytesFreed: 0 });
  });

  /**
   * One pack holding two files, then a snapshot without the larger one, then the first snapshot
   * forgotten: 40 % of the pack is live, so prune repacks it.
   */
  async function packMostlyForgotten(): Promise<{ t: TestRepo; expected: Map<string, TreeDescription> }> {
    const t = await scratch.repo({ packSize: 4 * 1024 * 1024 });
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "kept.bin"), randomBytesFrom(prng(1), 400 * 1024));
    await fs.writeFile(path.join(src, "gone.bin"), randomBytesFrom(prng(2), 600 * 1024));
    const first = await t.repo.commit(src);
    await fs.rm(path.join(src, "gone.bin"));
    const second = await t.repo.commit(src);
    await t.repo.forget([first.snapshot.id]);
    return { t, expected: new Map([[second.snapshot.id, await describeTree(src)]]) };
  }

  it("a dry run changes nothing and says what prune will free, counting what a repack writes again", async () => {
    const { t } = await packMostlyForgotten();
    const before = await listObjects(t.url, "data");
    const dry = await t.repo.prune({ dryRun: true });
    expect(await listObjects(t.url, "data")).toEqual(before);
    const result = await t.repo.prune();
    expect(result.packsRepacked).toBe(1);
    expect({ ...dry, bytesFreed: 0 }).toEqual({ ...result, bytesFreed: 0 });
    expect(result.bytesFreed).toBeGreaterThan(550 * 1024);
    expect(Math.abs(dry.bytesFreed - result.bytesFreed)).toBeLessThan(0.02 * result.bytesFreed);
  });

  it("forget by policy keeps the newest per day and never removes safety snapshots", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "f"), "x");
    const safety = (await t.repo.commit(src, { reason: "safety" })).snapshot.id;
    const made: string[] = [];
    for (let i = 0; i < 4; i++) made.push((await t.repo.commit(src, { reason: "cron" })).snapshot.id);
    const dry = await t.repo.forgetByPolicy({ keepLast: 2 }, { dryRun: true });
    expect(dry.removed.sort()).toEqual([made[0], made[1]].sort());
    expect((await t.repo.log()).length).toBe(5);
    const res = await t.repo.forgetByPolicy({ keepDaily: 1 });
    expect(res.kept.sort()).toEqual([safety, made[3]].sort());
    expect((await t.repo.log()).map((s) => s.id).sort()).toEqual([safety, made[3]].sort());
  });

  it("a cancelled prune stops with its lock released; every snapshot restores, and the next prune finishes the work", async () => {
    const { t, expected } = await packMostlyForgotten();

    // Cancelled as the repack uploads its pack (Ctrl-C in the CLI aborts the same signal).
    const controller = new AbortController();
    const cancelling = await t.reopen({ wrapBackend: (b) => observedBackend(b, { afterPut: (key) => key.startsWith("data/") && controller.abort() }) });
    const before = await listObjects(t.url, "index");
    await expect(cancelling.prune({ signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    expect(await listObjects(t.url, "locks")).toEqual([]);
    expect(await listObjects(t.url, "index")).toEqual(before);
    await assertAllRestorable(cancelling, expected);

    const result = await t.repo.prune();
    expect(result.packsRepacked).toBe(1);
    expect(result.packsDeleted).toBe(1); // the pack the cancelled repack had written, listed nowhere
    await assertAllRestorable(t.repo, expected);
    expect((await t.repo.check({ readData: true })).errors).toEqual([]);
  });

  it("prune refuses to run while a commit holds its lock, and a commit refuses while prune holds one", async () => {
    const t = await scratch.repo();
    const keyName = (await fs.readdir(path.join(t.url, "keys")))[0]!;
    const master = await unwrapMasterKey(parseKeyFile(keyName, await fs.readFile(path.join(t.url, "keys", keyName))), PASSPHRASE);
    const keys = deriveKeys(master!);
    const backend = new LocalBackend(t.url);
    const commitLock = await acquireLock(backend, keys, false, "commit");
    await expect(t.repo.prune()).rejects.toBeInstanceOf(LockedError);
    await commitLock.release();
    const pruneLock = await acquireLock(backend, keys, true, "prune");
    const src = await scratch.dir("src");
    await expect(t.repo.commit(src)).rejects.toBeInstanceOf(LockedError);
    await pruneLock.release();
    await t.repo.commit(src);
    expect(await listObjects(t.url, "locks")).toEqual([]);
  });

  it("a failed upload at any point of a commit leaves every listed snapshot restorable (invariant 1)", async () => {
    const t = await scratch.repo({ packSize: 128 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 61, { files: 20, maxSize: 300_000 });
    const first = await t.repo.commit(src);
    const expected = new Map([[first.snapshot.id, await describeTree(src)]]);
    await makeRandomTree(path.join(src, "a"), 62, { files: 20, maxSize: 300_000 }).catch(() => {});
    await fs.writeFile(path.join(src, "new.bin"), randomBytesFrom(prng(63), 600_000));

    // Count the puts a clean commit makes (lock, packs, manifest, snapshot), then fail at each.
    const probe = await t.reopen({ cacheDir: await scratch.dir("probe") });
    const before = probe.requestCounts().put;
    const clean = await probe.commit(src, { reason: "probe" });
    const puts = probe.requestCounts().put - before;
    expect(puts).toBeGreaterThan(4);
    await probe.forget([clean.snapshot.id]);
    await probe.prune();

    for (let failAt = 1; failAt <= puts; failAt++) {
      const crashy = await t.reopen({ cacheDir: await scratch.dir(`crash${failAt}`), wrapBackend: (b) => faultyBackend(b, { failPutFrom: failAt }) });
      await expect(crashy.commit(src)).rejects.toThrow(/injected failure/);
      await crashy.close();
      const fresh = await t.reopen({ cacheDir: await scratch.dir(`after${failAt}`) });
      const listed = await fresh.log();
      expect(listed.map((s) => s.id)).toEqual([first.snapshot.id]);
      await assertAllRestorable(fresh, expected);
      await fresh.close();
    }
    // The leftovers of the failed commits are unreferenced; check says so and prune removes them.
    const final = await t.reopen({ cacheDir: await scratch.dir("final") });
    await final.prune();
    const check = await final.check({ readData: true });
    expect(check.errors).toEqual([]);
    expect(check.warnings).toEqual([]);
  });
});
