import { describe, expect, it, vi } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hostname } from "node:os";
import { LockedError, LockLostError } from "../../src/errors.ts";
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
import { faultyBackend } from "../helpers/faulty-backend.ts";

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

describe("a lock that no longer holds", () => {
  const scratch = useScratch();

  it("a commit whose lock another process removed while it stored (a machine asleep, set aside as stale) lists nothing; the next commit works", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "notes.txt"), "kept through the night");
    let removed = 0;
    const asleep = await t.reopen({
      wrapBackend: (b) =>
        faultyBackend(b, {
          // As its first pack is written, a prune elsewhere sets its lock aside.
          async beforeChange() {
            if (removed++ > 0) return;
            for (const file of await lockFiles(t.url)) await fs.rm(path.join(t.url, "locks", file));
          },
        }),
    });
    const err = await asleep.commit(src).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect((err as Error).message).toMatch(/commit's lock on the repository no longer holds \(another process removed it.*nothing was listed: run it again/);
    expect(await fs.readdir(path.join(t.url, "snapshots")).catch(() => [])).toEqual([]);
    expect(await lockFiles(t.url)).toEqual([]);
    const { snapshot } = await t.repo.commit(src);
    const out = await scratch.dir("out");
    await t.repo.checkout(snapshot.id, out, { safetySnapshot: false });
    expect(await fs.readFile(path.join(out, "notes.txt"), "utf8")).toBe("kept through the night");
  });

  it("a shared lock unrefreshed for 30 minutes, rewritten beside a live exclusive lock, is lost; a fresh one holds with one HEAD", async () => {
    const t = await scratch.repo();
    const keys = await repoKeys(t.url);
    const heads: string[] = [];
    const backend = new LocalBackend(t.url);
    const head = backend.head.bind(backend);
    backend.head = (key) => (heads.push(key), head(key));
    const held = await acquireLock(backend, keys, false, "commit");
    await held.assertHeld();
    expect(heads).toHaveLength(1);
    // The machine sleeps for 31 minutes; meanwhile a prune on another machine found this lock
    // stale, but listed the locks before this one was rewritten: its exclusive lock is live.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 31 * 60 * 1000);
      await plantLock(t.url, { host: "elsewhere", pid: 4242, exclusive: true, purpose: "prune" });
      const err = await held.assertHeld().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockLostError);
      expect((err as Error).message).toContain("prune (pid 4242 on elsewhere) took the repository meanwhile");
      await expect(held.assertHeld()).rejects.toBeInstanceOf(LockLostError);
    } finally {
      vi.useRealTimers();
    }
    await held.release();
    // Only the planted lock is left: the rewritten one was deleted when the loss was found.
    expect(await lockFiles(t.url)).toEqual(["ab".repeat(16)]);
  });
});
