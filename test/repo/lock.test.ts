import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hostname } from "node:os";
import { LockedError } from "../../src/errors.ts";
import { LocalBackend } from "../../src/storage/local.ts";
import { acquireLock, listLocks } from "../../src/repo/lock.ts";
import { lockKey } from "../../src/repo/layout.ts";
import { sealJson } from "../../src/repo/sealed-json.ts";
import { deriveKeys, type RepoKeys } from "../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../src/crypto/keyfile.ts";
import { thisProcess } from "../../src/repo/process-identity.ts";
import { PASSPHRASE } from "../helpers/repo.ts";
import { useScratch } from "../helpers/scratch.ts";
import { killHard, startCrashChild } from "../helpers/killed-child.ts";

async function repoKeys(repoDir: string): Promise<RepoKeys> {
  const keyName = (await fs.readdir(path.join(repoDir, "keys")))[0]!;
  const master = await unwrapMasterKey(parseKeyFile(keyName, await fs.readFile(path.join(repoDir, "keys", keyName))), PASSPHRASE);
  return deriveKeys(master!);
}

/** Writes a lock record as another process (or machine) would have. */
async function plantLock(repoDir: string, record: Record<string, unknown>): Promise<string> {
  const key = lockKey("ab".repeat(16));
  await new LocalBackend(repoDir).put(key, sealJson((await repoKeys(repoDir)).encryption, "lock", { time: new Date().toISOString(), exclusive: false, purpose: "commit", ...record }));
  return key;
}

const lockFiles = async (repoDir: string) => (await fs.readdir(path.join(repoDir, "locks")).catch(() => [])).sort();

describe("locks left behind", () => {
  const scratch = useScratch();

  it("a lock of a SIGKILLed process on this host is stale at once: prune runs and deletes it", async () => {
    const t = await scratch.repo();
    const { child } = await startCrashChild("lock", [t.url, PASSPHRASE, "shared"]);
    expect(await lockFiles(t.url)).toHaveLength(1);
    // While the holder runs, its lock holds prune off.
    await expect(t.repo.prune()).rejects.toBeInstanceOf(LockedError);
    await killHard(child);
    await t.repo.prune();
    expect(await lockFiles(t.url)).toEqual([]);
  });

  it("an exclusive lock of a SIGKILLed prune does not block the next commit", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "a.txt"), "a");
    const { child } = await startCrashChild("lock", [t.url, PASSPHRASE, "exclusive"]);
    await expect(t.repo.commit(src)).rejects.toBeInstanceOf(LockedError);
    await killHard(child);
    await t.repo.commit(src);
    expect(await lockFiles(t.url)).toEqual([]);
  });

  it("a lock whose pid now belongs to another process (other start time, or another boot) is stale", async () => {
    const t = await scratch.repo();
    const me = thisProcess();
    // This test's own pid is alive; only the recorded start time (or boot) says the holder was another process.
    await plantLock(t.url, { host: hostname(), pid: me.pid, start: "1", ...(me.boot ? { boot: me.boot } : {}) });
    await t.repo.prune();
    expect(await lockFiles(t.url)).toEqual([]);
    await plantLock(t.url, { host: hostname(), pid: me.pid, ...(me.start ? { start: me.start } : {}), boot: "another-boot" });
    await t.repo.prune();
    expect(await lockFiles(t.url)).toEqual([]);
  });

  it("a live lock of this process, or a recent one of another machine, holds; unlock keeps it, --remove-all removes it", async () => {
    const t = await scratch.repo();
    const held = await acquireLock(new LocalBackend(t.url), await repoKeys(t.url), false, "commit");
    await expect(t.repo.prune()).rejects.toThrow(/locked by commit .*clawback unlock/);
    await held.release();

    const other = await plantLock(t.url, { host: "another-machine", pid: 4242 });
    await expect(t.repo.prune()).rejects.toBeInstanceOf(LockedError);
    const kept = await t.repo.unlock();
    expect(kept.removed).toEqual([]);
    expect(kept.kept.map((l) => l.key)).toEqual([other]);
    const all = await t.repo.unlock({ all: true });
    expect(all.removed.map((l) => l.key)).toEqual([other]);
    expect(await lockFiles(t.url)).toEqual([]);
  });

  it("unlock removes stale locks only: another machine's after 30 minutes without a refresh, this host's dead ones at once", async () => {
    const t = await scratch.repo();
    const old = await plantLock(t.url, { host: "another-machine", pid: 4242, time: new Date(Date.now() - 31 * 60_000).toISOString() });
    const { locks } = await listLocks(new LocalBackend(t.url), await repoKeys(t.url));
    expect(locks.map((l) => [l.key, l.stale])).toEqual([[old, "not refreshed for over 30 minutes"]]);
    const r = await t.repo.unlock();
    expect(r.removed.map((l) => l.key)).toEqual([old]);
    expect(await lockFiles(t.url)).toEqual([]);
  });
});
