import { describe, expect, it, vi } from "vitest";
import Database from "better-sqlite3";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { buildOpenClawLikeDb, editOpenClawLikeDb } from "../helpers/sqlite-writer.ts";
import { FAST_SCRYPT, PASSPHRASE, objectKeys, type TestRepo } from "../helpers/repo.ts";
import { createKeyFile, generateMasterKey } from "../../src/crypto/index.ts";
import { keyFileKey } from "../../src/repo/layout.ts";
import { s3Target } from "../helpers/targets.ts";
import { observedBackend } from "../helpers/observed-backend.ts";
import { useScratch } from "../helpers/scratch.ts";
import { Repository } from "../../src/engine/repository.ts";
import { IndexCache } from "../../src/index/cache.ts";
import { committedDatabase } from "../helpers/committed-database.ts";

/** Rows of the repository's index cache: each blob and the base it is a delta of, if any. */
async function indexedBlobs(t: TestRepo): Promise<Map<string, { base: string | null; pack: string }>> {
  const { id } = JSON.parse(await fs.readFile(path.join(t.url, "config"), "utf8")) as { id: string };
  const db = new Database(path.join(t.cacheDir, id, "index.sqlite"), { readonly: true });
  try {
    const rows = db.prepare<[], { id: string; base: string | null; pack: string }>("SELECT id, base, pack FROM blobs").all();
    return new Map(rows.map((r) => [r.id, { base: r.base, pack: r.pack }]));
  } finally {
    db.close();
  }
}

/**
 * Turns a fresh repository into a format version 1 one (no deltas), as an older clawback made it:
 * config version 1, and a version 1 key file (an older clawback sealed no copy of config in it, so
 * editing config is only possible for such a repository).
 */
async function asVersion1(t: TestRepo): Promise<Repository> {
  const file = path.join(t.url, "config");
  const cfg = JSON.parse(await fs.readFile(file, "utf8")) as { version: number };
  await t.repo.close();
  for (const key of await objectKeys(t.raw, "keys/")) await t.raw.delete(key);
  const key = await createKeyFile(generateMasterKey(), PASSPHRASE, FAST_SCRYPT);
  await t.raw.put(keyFileKey(key.id), key.bytes);
  await fs.writeFile(file, JSON.stringify({ ...cfg, version: 1 }));
  return t.reopen();
}

describe("database page groups stored as deltas of their previous version", () => {
  const scratch = useScratch();

  /** Three versions of an 8 MB OpenClaw-like database, each committed to `repos`; returns the snapshot ids per repo. */
  async function threeDays(src: string, repos: Repository[], updated = 0.01): Promise<string[][]> {
    const db = path.join(src, "agent", "openclaw-agent.sqlite");
    await fs.mkdir(path.dirname(db), { recursive: true });
    buildOpenClawLikeDb(db, 8 * 1024 * 1024);
    await fs.writeFile(path.join(src, "notes.md"), "day one\n");
    const ids: string[][] = repos.map(() => []);
    for (let day = 0; day < 3; day++) {
      if (day > 0) {
        editOpenClawLikeDb(db, "update-random", updated, 10 + day);
        editOpenClawLikeDb(db, "append", 0.005, 20 + day);
      }
      for (const [i, repo] of repos.entries()) ids[i]!.push((await repo.commit(src)).snapshot.id);
    }
    return ids;
  }

  it("a day's changed groups take under half the bytes; every snapshot restores the same bytes as without deltas", async () => {
    const withDeltas = await scratch.repo();
    const plain = await scratch.repo();
    const v1 = await asVersion1(plain);
    const src = await scratch.dir("src");
    const [ids, plainIds] = await threeDays(src, [withDeltas.repo, v1]);

    const added = async (repo: Repository, id: string) => (await repo.show(id)).stats.addedBytes;
    for (const day of [1, 2]) {
      expect(await added(withDeltas.repo, ids![day]!)).toBeLessThan(0.5 * (await added(v1, plainIds![day]!)));
    }
    const blobs = await indexedBlobs(withDeltas);
    const deltas = [...blobs.values()].filter((b) => b.base !== null);
    expect(deltas.length).toBeGreaterThan(20);
    // Depth one: a base is always a full blob, so a restore decodes at most one blob before another.
    for (const d of deltas) expect(blobs.get(d.base!)?.base, "a base that is itself a delta").toBeNull();
    expect([...(await indexedBlobs(plain)).values()].every((b) => b.base === null)).toBe(true);

    for (const day of [0, 1, 2]) {
      const a = path.join(await scratch.dir("a"), "out");
      const b = path.join(await scratch.dir("b"), "out");
      await withDeltas.repo.checkout(ids![day]!, a);
      await v1.checkout(plainIds![day]!, b);
      const file = path.join("agent", "openclaw-agent.sqlite");
      expect((await fs.readFile(path.join(a, file))).equals(await fs.readFile(path.join(b, file))), `day ${day}`).toBe(true);
    }
    const check = await withDeltas.repo.check({ readData: true });
    expect(check.errors).toEqual([]);
  });

  it("a changed group is looked up in the index once, and so is its base", async () => {
    const { t, src, db } = await committedDatabase(scratch, "openclaw-agent.sqlite", 4 * 1024 * 1024);
    editOpenClawLikeDb(db, "update-random", 0.02, 31);
    const asked = { hasBlob: [] as string[], blob: [] as string[] };
    const spies = (["hasBlob", "blob"] as const).map((name) => {
      const original = IndexCache.prototype[name] as (id: string) => unknown;
      return vi.spyOn(IndexCache.prototype, name).mockImplementation(function (this: IndexCache, id: string) {
        asked[name].push(id);
        return original.call(this, id);
      } as never);
    });
    const { snapshot } = await t.repo.commit(src).finally(() => spies.forEach((spy) => spy.mockRestore()));
    expect(snapshot.stats.addedDeltas).toBeGreaterThan(5);
    for (const name of ["hasBlob", "blob"] as const) expect(new Set(asked[name]).size, name).toBe(asked[name].length);
  });

  it("prune keeps the bases of deltas when the snapshots that stored them are forgotten, also through repacks", async () => {
    // Small packs and many changed rows, so prune has packs of deltas to rewrite. (Day 0's packs
    // mostly stay: the old versions of changed groups are the bases the later deltas need.)
    const t = await scratch.repo({ packSize: 16 * 1024 });
    const src = await scratch.dir("src");
    const [ids] = await threeDays(src, [t.repo], 0.15);
    const before = path.join(await scratch.dir("before"), "out");
    await t.repo.checkout(ids![2]!, before);
    const packsBefore = await indexedBlobs(t);

    await t.repo.forget([ids![0]!, ids![1]!]);
    const pruned = await t.repo.prune();
    expect(pruned.packsRepacked).toBeGreaterThan(0);
    const blobs = await indexedBlobs(t);
    const deltas = [...blobs.values()].filter((b) => b.base !== null);
    expect(deltas.length).toBeGreaterThan(20);
    for (const d of deltas) expect(blobs.has(d.base!), "a delta's base left the index").toBe(true);
    // Day 1's deltas of groups that changed again are gone; the live ones sharing their packs were
    // rewritten, as deltas of the same bases.
    const moved = [...blobs].filter(([id, b]) => b.base !== null && packsBefore.get(id)!.pack !== b.pack);
    expect(moved.length, "deltas rewritten by the repack").toBeGreaterThan(0);
    for (const [id, b] of moved) expect(b.base).toBe(packsBefore.get(id)!.base);
    expect((await t.repo.check({ readData: true })).errors).toEqual([]);

    // From a fresh cache too: the bases come back from the manifests.
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache") });
    const after = path.join(await scratch.dir("after"), "out");
    await fresh.checkout(ids![2]!, after);
    const file = path.join("agent", "openclaw-agent.sqlite");
    expect((await fs.readFile(path.join(after, file))).equals(await fs.readFile(path.join(before, file)))).toBe(true);
  });

  it("a damaged base is reported by check, fails the restore of the delta leaving the target as it was, and leaves only its database out of the next commit", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const [ids] = await threeDays(src, [t.repo]);
    const blobs = await indexedBlobs(t);
    // Day 0's pack holds the bases of most deltas (a group first stored on day 1 is the base of a
    // few): that is the pack the next commit needs, whatever order the index lists blobs in.
    const deltas = [...blobs.values()].filter((b) => b.base !== null);
    const packOfBase = (d: { base: string | null }) => blobs.get(d.base!)!.pack;
    const basesIn = new Map<string, number>();
    for (const d of deltas) basesIn.set(packOfBase(d), (basesIn.get(packOfBase(d)) ?? 0) + 1);
    const basePack = [...basesIn].sort((a, b) => b[1] - a[1])[0]![0];
    const delta = deltas.find((d) => packOfBase(d) === basePack)!;
    // The deltas of day 2 live in another pack.
    expect(basePack).not.toBe(delta.pack);
    const packFile = path.join(t.url, "data", basePack.slice(0, 2), basePack);
    const bytes = await fs.readFile(packFile);
    const { id: configId } = JSON.parse(await fs.readFile(path.join(t.url, "config"), "utf8")) as { id: string };
    const db = new Database(path.join(t.cacheDir, configId, "index.sqlite"), { readonly: true });
    const at = db.prepare<[string], { offset: number }>("SELECT offset FROM blobs WHERE id = ?").get(delta.base!)!.offset;
    db.close();
    bytes[at + 40] = bytes[at + 40]! ^ 0xff;
    await fs.writeFile(packFile, bytes);

    const check = await t.repo.check({ readData: true });
    expect(check.ok).toBe(false);
    expect(check.errors.join("\n")).toContain(basePack);

    const target = await scratch.dir("target");
    await fs.writeFile(path.join(target, "keep.txt"), "mine");
    await expect(t.repo.checkout(ids![2]!, target, { safetySnapshot: false })).rejects.toThrow(basePack);
    expect(await fs.readdir(target)).toEqual(["keep.txt"]);

    // The next commit, which needs bases from that pack for the database's changed groups (now
    // every blob in it is damaged), leaves only the database out, naming the pack; everything else
    // is stored and the snapshot is listed.
    const cacheDb = new Database(path.join(t.cacheDir, configId, "index.sqlite"), { readonly: true });
    for (const { offset } of cacheDb.prepare<[string], { offset: number }>("SELECT offset FROM blobs WHERE pack = ?").all(basePack)) bytes[offset + 41] = bytes[offset + 41]! ^ 0xff;
    cacheDb.close();
    await fs.writeFile(packFile, bytes);
    const dbFile = path.join(src, "agent", "openclaw-agent.sqlite");
    editOpenClawLikeDb(dbFile, "update-random", 0.01, 40);
    await fs.writeFile(path.join(src, "notes.md"), "day four\n");
    const { snapshot, warnings } = await t.repo.commit(src);
    expect(warnings.map((w) => w.path)).toEqual(["agent/openclaw-agent.sqlite"]);
    expect(warnings[0]!.message).toContain(basePack);
    expect((await t.repo.ls(snapshot.id)).map((e) => e.path)).toEqual(["agent", "notes.md"]);
    const after = await scratch.dir("after");
    await t.repo.checkout(snapshot.id, after, { safetySnapshot: false });
    expect(await fs.readFile(path.join(after, "notes.md"), "utf8")).toBe("day four\n");
  });

  it("a database rewritten by VACUUM is stored whole, without reading its old groups back", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw-agent.sqlite");
    buildOpenClawLikeDb(db, 16 * 1024 * 1024);
    const first = await t.repo.commit(src);
    const { DatabaseSync } = await import("node:sqlite");
    const conn = new DatabaseSync(db);
    conn.exec("DELETE FROM transcript_events WHERE id % 3 = 0; VACUUM;");
    conn.close();

    let read = 0;
    const counting = await t.reopen({ wrapBackend: (b) => observedBackend(b, { afterGet: (key, bytes) => void (key.startsWith("data/") && (read += bytes.byteLength)) }) });
    const second = await counting.commit(src);
    expect(second.snapshot.stats.addedDeltas).toBeLessThan(second.snapshot.stats.addedChunks / 8);
    // The first window (1 MiB of groups) shows deltas do not pay; the rest are not tried.
    expect(read).toBeLessThan(0.15 * first.snapshot.stats.addedBytes);
    const out = path.join(await scratch.dir("out"), "out");
    await counting.checkout(second.snapshot.id, out);
    const restored = new DatabaseSync(path.join(out, "openclaw-agent.sqlite"), { readOnly: true });
    expect(restored.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    restored.close();
  });

  it("over S3 (a real S3 server on loopback): deltas are written, read back as bases and restored byte for byte", async () => {
    const s3 = s3Target();
    await s3.start();
    try {
      const remote = await scratch.repo({ target: s3 });
      const v1 = await asVersion1(await scratch.repo());
      const src = await scratch.dir("src");
      const [ids, plainIds] = await threeDays(src, [remote.repo, v1]);
      for (const day of [1, 2]) expect((await remote.repo.show(ids![day]!)).stats.addedDeltas).toBeGreaterThan(20);
      const a = path.join(await scratch.dir("a"), "out");
      const b = path.join(await scratch.dir("b"), "out");
      await remote.repo.checkout(ids![2]!, a);
      await v1.checkout(plainIds![2]!, b);
      const file = path.join("agent", "openclaw-agent.sqlite");
      expect((await fs.readFile(path.join(a, file))).equals(await fs.readFile(path.join(b, file)))).toBe(true);
      expect((await remote.repo.check({ readData: true })).errors).toEqual([]);
      await remote.cleanup();
    } finally {
      await s3.stop();
    }
  });

  it("a version 1 repository is still read and written, never with deltas", async () => {
    const t = await scratch.repo();
    const v1 = await asVersion1(t);
    const src = await scratch.dir("src");
    const [ids] = await threeDays(src, [v1]);
    expect([...(await indexedBlobs(t)).values()].every((b) => b.base === null)).toBe(true);
    const out = path.join(await scratch.dir("out"), "out");
    await v1.checkout(ids![2]!, out);
    const restored = new (await import("node:sqlite")).DatabaseSync(path.join(out, "agent", "openclaw-agent.sqlite"), { readOnly: true });
    expect(restored.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    restored.close();
    expect(JSON.parse(await fs.readFile(path.join(t.url, "config"), "utf8")).version).toBe(1);
  });
});
