import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import Database from "better-sqlite3";
import { Repository, UsageError, type ProgressEvent } from "../../../src/lib.ts";
import { describeTree, makeRandomTree, settle } from "../../helpers/tree.ts";
import { buildOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { useScratch } from "../../helpers/scratch.ts";

/** The index cache's file of a test repository (one repository per cache folder). */
async function cacheFile(cacheDir: string): Promise<string> {
  const [repoId] = await fs.readdir(cacheDir);
  return path.join(cacheDir, repoId!, "index.sqlite");
}

/** Whether the cache holds a listing memo for the folder committed (one folder per test). */
async function hasMemo(cacheDir: string): Promise<boolean> {
  const db = new Database(await cacheFile(cacheDir), { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM listing_memos").pluck().get() === 1;
  } finally {
    db.close();
  }
}

/** Files a commit looked at one by one (its per-file progress events). */
function fileEvents(): { events: string[]; progress: { progress(e: ProgressEvent): void } } {
  const events: string[] = [];
  return { events, progress: { progress: (e) => void (e.phase === "commit" && e.path && events.push(e.path)) } };
}

describe("a commit of an unchanged folder reuses the last listing", () => {
  const scratch = useScratch();

  it("reuses it when nothing changed, and restores the same files", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 31);
    const first = await t.repo.commit(src);
    // Mark the memo so its use shows in the next snapshot: the file count is taken from it.
    const db = new Database(await cacheFile(t.cacheDir));
    const memo = JSON.parse(db.prepare("SELECT memo FROM listing_memos").pluck().get() as string) as { files: number };
    expect(memo.files).toBe(first.snapshot.stats.files);
    db.prepare("UPDATE listing_memos SET memo = ?").run(JSON.stringify({ ...memo, files: 4242 }));
    db.close();

    const seen = fileEvents();
    const second = await t.repo.commit(src, { progress: seen.progress });
    expect(second.snapshot.stats.files).toBe(4242);
    expect(seen.events).toEqual([]);
    expect(second.snapshot.stats.addedBytes).toBe(0);
    expect(await t.repo.ls(second.snapshot.id)).toEqual(await t.repo.ls(first.snapshot.id));
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(second.snapshot.id, out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it("does not reuse it after a file, a folder or the excludes changed", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 32);
    await fs.writeFile(path.join(src, "notes.md"), "first");
    await fs.writeFile(path.join(src, "debug.log"), "noise");
    await settle(path.join(src, "notes.md"), path.join(src, "debug.log"));
    const base = await t.repo.commit(src, { excludes: ["*.log"] });
    expect((await t.repo.ls(base.snapshot.id)).some((e) => e.path === "debug.log")).toBe(false);
    expect(await hasMemo(t.cacheDir)).toBe(true);

    // Same size, new content.
    await fs.writeFile(path.join(src, "notes.md"), "again");
    await settle(path.join(src, "notes.md"));
    const edited = await t.repo.commit(src, { excludes: ["*.log"] });
    expect(edited.snapshot.stats.filesRead).toBe(1);
    expect(await hasMemo(t.cacheDir)).toBe(true);
    const notes = path.join(await scratch.dir("out"), "notes");
    await t.repo.checkout(edited.snapshot.id, notes, { paths: ["notes.md"] });
    expect(await fs.readFile(path.join(notes, "notes.md"), "utf8")).toBe("again");

    // A new empty folder changes no file, only the listing.
    await fs.mkdir(path.join(src, "a-new-folder"));
    const withFolder = await t.repo.commit(src, { excludes: ["*.log"] });
    expect((await t.repo.ls(withFolder.snapshot.id)).some((e) => e.path === "a-new-folder" && e.type === "dir")).toBe(true);
    expect(await hasMemo(t.cacheDir)).toBe(true);

    // Without the exclude, the log file is listed again.
    const all = await t.repo.commit(src);
    expect((await t.repo.ls(all.snapshot.id)).some((e) => e.path === "debug.log")).toBe(true);
  });

  it("does not reuse it when a database changed only in its -wal", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const dbPath = path.join(src, "live.sqlite");
    buildOpenClawLikeDb(dbPath, 256 * 1024);
    const { DatabaseSync } = await import("node:sqlite");
    const conn = new DatabaseSync(dbPath);
    conn.exec("PRAGMA wal_autocheckpoint = 0; CREATE TABLE marks (v TEXT)");
    await settle(dbPath);
    await t.repo.commit(src);
    expect(await hasMemo(t.cacheDir)).toBe(true);
    const mainBefore = await fs.stat(dbPath, { bigint: true });
    conn.exec("INSERT INTO marks VALUES ('after the first commit')");
    const mainAfter = await fs.stat(dbPath, { bigint: true });
    // The change sits in the -wal: the main file's stat, which the walk sees, is as it was.
    expect([mainAfter.size, mainAfter.mtimeNs, mainAfter.ctimeNs]).toEqual([mainBefore.size, mainBefore.mtimeNs, mainBefore.ctimeNs]);

    const { snapshot } = await t.repo.commit(src);
    conn.close();
    expect(snapshot.stats.filesRead).toBe(1);
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(snapshot.id, out);
    const copy = new DatabaseSync(path.join(out, "live.sqlite"), { readOnly: true });
    expect(copy.prepare("SELECT v FROM marks").all()).toEqual([{ v: "after the first commit" }]);
    copy.close();
  });

  it("does not reuse it after a file was added or deleted, and lists exactly what is there", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 35);
    await fs.writeFile(path.join(src, "keep.md"), "kept");
    await fs.writeFile(path.join(src, "doomed.md"), "to be deleted");
    await settle(path.join(src, "keep.md"), path.join(src, "doomed.md"));
    await t.repo.commit(src);
    expect(await hasMemo(t.cacheDir)).toBe(true);

    await fs.writeFile(path.join(src, "newcomer.md"), "new");
    await settle(path.join(src, "newcomer.md"));
    const added = await t.repo.commit(src);
    expect(added.snapshot.stats.filesRead).toBe(1);
    expect((await t.repo.ls(added.snapshot.id)).some((e) => e.path === "newcomer.md")).toBe(true);

    await fs.rm(path.join(src, "doomed.md"));
    const deleted = await t.repo.commit(src);
    expect(deleted.snapshot.stats.filesRead).toBe(0);
    const paths = (await t.repo.ls(deleted.snapshot.id)).map((e) => e.path);
    expect(paths).not.toContain("doomed.md");
    expect(paths).toContain("keep.md");
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(deleted.snapshot.id, out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it("says of a reused listing's databases what the commit that made it said, from the digests it carries or, for an older memo, from the stat cache", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    buildOpenClawLikeDb(path.join(src, "a.sqlite"), 128 * 1024);
    buildOpenClawLikeDb(path.join(src, "b.sqlite"), 96 * 1024);
    await settle(path.join(src, "a.sqlite"), path.join(src, "b.sqlite"));
    const first = await t.repo.commit(src);
    expect(first.snapshot.sqliteCheck).toEqual({ databases: 2, passed: 2, failed: [] });
    const db = new Database(await cacheFile(t.cacheDir));
    const memo = JSON.parse(db.prepare("SELECT memo FROM listing_memos").pluck().get() as string) as { databases: [string, unknown, string?][] };
    // Each database comes with the digest of its chunk ids (what its quick_check state is keyed by).
    const checked = db.prepare("SELECT path, content FROM database_checks ORDER BY path").all() as { path: string; content: string }[];
    expect(memo.databases.map(([p, , content]) => ({ path: p, content })).sort((x, y) => x.path.localeCompare(y.path))).toEqual(checked);

    const seen = fileEvents();
    const reused = await t.repo.commit(src, { progress: seen.progress });
    expect(seen.events).toEqual([]);
    expect(reused.snapshot.sqliteCheck).toEqual({ databases: 2, passed: 2, failed: [] });

    // A memo written by an earlier version has no digests: the chunks are looked up instead.
    db.prepare("UPDATE listing_memos SET memo = ?").run(JSON.stringify({ ...memo, databases: memo.databases.map(([p, key]) => [p, key]) }));
    // One database's last check failed: the reused listing must say so.
    db.prepare("UPDATE database_checks SET passed = 0 WHERE path = 'b.sqlite'").run();
    db.close();
    const older = await t.repo.commit(src, { progress: seen.progress });
    expect(seen.events).toEqual([]);
    expect(older.snapshot.sqliteCheck).toEqual({ databases: 2, passed: 1, failed: ["b.sqlite"] });
  });

  it("does not reuse it once its chunks may have been pruned", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 33);
    const first = await t.repo.commit(src);
    expect(await hasMemo(t.cacheDir)).toBe(true);
    await t.repo.forget([first.snapshot.id]);
    await t.repo.prune();
    // The folder is unchanged, but the listing and chunks the memo names are gone from the bucket.
    const seen = fileEvents();
    const { snapshot } = await t.repo.commit(src, { progress: seen.progress });
    expect(seen.events.length).toBeGreaterThan(0);
    expect(snapshot.stats.filesRead).toBeGreaterThan(0);
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(snapshot.id, out);
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect((await t.repo.check({ readData: true })).errors).toEqual([]);
  });
});

describe("a file changed just before a commit (racy)", () => {
  const scratch = useScratch();

  it("is read again by the next commit, and no listing is reused until it has settled", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const file = path.join(src, "fresh.md");
    await fs.writeFile(file, "just written");
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    expect(await hasMemo(t.cacheDir)).toBe(false);
    // Its stat is unchanged, but a write in the same timestamp tick would have left it so.
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    await settle(file);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    expect(await hasMemo(t.cacheDir)).toBe(true);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(0);
  });

  it("a file dated ahead of the clock is racy only while its change time is recent, and a rewrite with the same size and date is still seen", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const file = path.join(src, "from-an-archive.md");
    const ahead = Date.now() / 1000 + 30 * 24 * 3600;
    await fs.writeFile(file, "dated a month ahead");
    await fs.utimes(file, ahead, ahead);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    // Just dated: its change time is recent, so a rewrite in the same tick could hide.
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    await new Promise((r) => setTimeout(r, 3_100));
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(1);
    // Settled: nothing to read, though its mtime lies ahead of the clock (read every time before).
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(0);
    // Rewritten with the same size and dated the same again: the change time differs, so it is read.
    await fs.writeFile(file, "DATED A MONTH AHEAD");
    await fs.utimes(file, ahead, ahead);
    const { snapshot } = await t.repo.commit(src);
    expect(snapshot.stats.filesRead).toBe(1);
    const out = path.join(await scratch.dir("out"), "restored");
    await t.repo.checkout(snapshot.id, out);
    expect(await fs.readFile(path.join(out, "from-an-archive.md"), "utf8")).toBe("DATED A MONTH AHEAD");
  });
});

describe("a walk begun before the repository opens (Repository.scan)", () => {
  const scratch = useScratch();

  it("commits what a commit without it would, and is refused for another folder or other excludes", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const other = await scratch.dir("other");
    await makeRandomTree(src, 34);
    await fs.writeFile(path.join(src, "skip.log"), "x");
    const scan = Repository.scan(src, { excludes: ["*.log"] });
    const scanned = await t.repo.commit(src, { excludes: ["*.log"], scan });
    const plain = await t.repo.commit(src, { excludes: ["*.log"] });
    expect(await t.repo.ls(scanned.snapshot.id)).toEqual(await t.repo.ls(plain.snapshot.id));

    await expect(t.repo.commit(other, { excludes: ["*.log"], scan: Repository.scan(src, { excludes: ["*.log"] }) })).rejects.toThrow(UsageError);
    await expect(t.repo.commit(src, { scan: Repository.scan(src, { excludes: ["*.log"] }) })).rejects.toThrow(/excludes/);
  });

  it("a scan of a missing folder fails the commit naming the folder, and an unused one harms nothing", async () => {
    const t = await scratch.repo();
    const missing = path.join(await scratch.dir("gone"), "nope");
    Repository.scan(missing); // never used: must not end the process with an unhandled rejection
    await expect(t.repo.commit(missing, { scan: Repository.scan(missing) })).rejects.toThrow(/nope.*does not exist|does not exist.*nope/);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});
