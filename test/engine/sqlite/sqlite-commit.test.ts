import { afterEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { buildOpenClawLikeDb, checkWriterInvariants, editOpenClawLikeDb, runSqlElsewhere, startWriter, type Writer } from "../../helpers/sqlite-writer.ts";
import { dirSize, settle } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { mountTmpfs } from "../../helpers/tmpfs.ts";
import { ScratchFullError } from "../../../src/errors.ts";
import type { CommitScrub, Warning } from "../../../src/engine/types.ts";

describe("SQLite databases in a commit (invariant 8)", () => {
  const scratch = useScratch();
  let writer: Writer | undefined;
  afterEach(async () => {
    await writer?.stop();
    writer = undefined;
  });

  it("a commit whose scratch folder has no room for a database's copy fails, naming the folder; no snapshot is listed", async (ctx) => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw.sqlite");
    buildOpenClawLikeDb(db, 3 * 1024 * 1024);
    await fs.writeFile(path.join(src, "notes.md"), "# notes\n");
    // TMPDIR names the scratch folder's place (the user's choice): a 1 MiB file system.
    const tmp = await scratch.dir("tmpdir");
    const unmount = mountTmpfs(tmp, "1m");
    if (!unmount) return ctx.skip();
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const warned: Warning[] = [];
      const err = await t.repo.commit(src, { progress: { warn: (w) => warned.push(w) } }).then(() => undefined, (e: unknown) => e);
      // Not a snapshot without its database and a warning: the folder is at fault, not the file.
      expect(err).toBeInstanceOf(ScratchFullError);
      expect(path.dirname((err as ScratchFullError).path)).toBe(tmp);
      expect((err as Error).message).toContain(`no room for the copy of ${db}`);
      expect(warned).toEqual([]);
      expect(await t.repo.log()).toEqual([]);
      expect(await fs.readdir(tmp)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      unmount();
    }
  });

  it("captures a database another process is writing; each restore passes integrity_check and is a committed state", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.mkdir(path.join(src, "state"));
    const db = path.join(src, "state", "openclaw.sqlite");
    writer = await startWriter(db);
    await writer.reach(50);

    const seen: number[] = [];
    for (let round = 0; round < 3; round++) {
      const { snapshot, warnings } = await t.repo.commit(src);
      expect(warnings).toEqual([]);
      const listing = await t.repo.ls(snapshot.id);
      expect(listing.map((e) => e.path)).toEqual(["state", "state/openclaw.sqlite"]);
      expect(listing[1]!.sqlite).toBe(true);

      const dst = path.join(await scratch.dir("dst"), "out");
      await t.repo.checkout(snapshot.id, dst);
      expect(await fs.readdir(path.join(dst, "state"))).toEqual(["openclaw.sqlite"]);
      const state = checkWriterInvariants(path.join(dst, "state", "openclaw.sqlite"));
      expect(state.n).toBeGreaterThan(0);
      seen.push(state.n);
      await writer.reach(writer.lastReported + 20);
    }
    // The writer kept going, and each capture saw a later committed state.
    expect(seen[2]).toBeGreaterThan(seen[0]!);
  });

  it("reads a live database through its WAL in place unless it needs a private copy: for its daily quick_check or for a scrub", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw.sqlite");
    writer = await startWriter(db, "write", { paceMs: 5 });
    const inPlace: (number | undefined)[] = [];
    const commitAndRestore = async (opts: { scrub?: CommitScrub } = {}) => {
      await writer!.reach(writer!.lastReported + 20);
      const { snapshot, warnings } = await t.repo.commit(src, opts);
      expect(warnings).toEqual([]);
      inPlace.push(snapshot.stats.databasesReadInPlace);
      const dst = path.join(await scratch.dir("dst"), "out");
      await t.repo.checkout(snapshot.id, dst);
      return checkWriterInvariants(path.join(dst, "openclaw.sqlite")).n;
    };
    const seen = [await commitAndRestore(), await commitAndRestore()];
    // Between two commits the WAL is checkpointed whole and starts over (TRUNCATE, then new writes).
    let truncated = false;
    for (let i = 0; i < 50 && !truncated; i++) {
      truncated = (runSqlElsewhere(db, "PRAGMA wal_checkpoint(TRUNCATE)") as { busy?: number } | null)?.busy === 0;
      if (!truncated) await new Promise((r) => setTimeout(r, 20));
    }
    expect(truncated).toBe(true);
    seen.push(await commitAndRestore());
    // A scrub edits a private copy: the backup API makes one.
    let scrubbed = 0;
    await commitAndRestore({ scrub: { id: "test/1", database: () => void scrubbed++ } });
    // The first commit checks the new database (from a copy); the next ones, within the day, need no copy.
    expect(inPlace).toEqual([0, 1, 1, 0]);
    expect(scrubbed).toBe(1);
    expect(seen[2]).toBeGreaterThan(seen[1]!);
    expect(seen[1]).toBeGreaterThan(seen[0]!);
  });

  it("after updating 1 % of the rows of a 50 MB database, the next commit adds under 15 % of its size", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw-agent.sqlite");
    buildOpenClawLikeDb(db, 50 * 1024 * 1024);
    const size = (await fs.stat(db)).size;
    await t.repo.commit(src);
    const before = await dirSize(t.url);
    editOpenClawLikeDb(db, "update-random", 0.01);
    const { snapshot } = await t.repo.commit(src);
    const added = (await dirSize(t.url)) - before;
    expect(snapshot.stats.filesRead).toBe(1);
    expect(added / size).toBeLessThan(0.15);

    // And the restored database is the edited one, intact.
    const dst = path.join(await scratch.dir("dst"), "out");
    await t.repo.checkout(snapshot.id, dst);
    const { DatabaseSync } = await import("node:sqlite");
    const copy = new DatabaseSync(path.join(dst, "openclaw-agent.sqlite"), { readOnly: true });
    expect(copy.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    copy.close();
  });

  it("skips a database's -wal/-shm sidecars but keeps ordinary files whose names only look like sidecars", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "live.sqlite");
    buildOpenClawLikeDb(db, 256 * 1024);
    const { DatabaseSync } = await import("node:sqlite");
    const conn = new DatabaseSync(db); // holds -wal and -shm open beside the database
    conn.exec("PRAGMA wal_autocheckpoint = 0; UPDATE memory SET updated_at = updated_at + 1 WHERE id = 1");
    await fs.writeFile(path.join(src, "travel-journal"), "day 1");
    await fs.writeFile(path.join(src, "notes.md-wal"), "not a database sidecar");
    expect((await fs.readdir(src)).sort()).toEqual(["live.sqlite", "live.sqlite-shm", "live.sqlite-wal", "notes.md-wal", "travel-journal"]);
    const { snapshot } = await t.repo.commit(src);
    conn.close();
    expect((await t.repo.ls(snapshot.id)).map((e) => e.path)).toEqual(["live.sqlite", "notes.md-wal", "travel-journal"]);
  });

  it("large databases captured ahead of their turn restore intact, and are skipped when unchanged", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "a-notes.txt"), "read first");
    const dbs = ["b-one.sqlite", "c-two.sqlite", "d-three.sqlite"].map((n) => path.join(src, n));
    dbs.forEach((db, i) => buildOpenClawLikeDb(db, 6 * 1024 * 1024, i + 1));
    const { DatabaseSync } = await import("node:sqlite");
    const count = (file: string) => {
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
        return db.prepare("SELECT count(*) AS n, sum(length(json)) AS b FROM transcript_events").get();
      } finally {
        db.close();
      }
    };
    await settle(path.join(src, "a-notes.txt"), ...dbs);
    const first = await t.repo.commit(src);
    expect(first.snapshot.stats.filesRead).toBe(4);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(0);
    editOpenClawLikeDb(dbs[2]!, "append", 0.05);
    const third = await t.repo.commit(src);
    expect(third.snapshot.stats.filesRead).toBe(1);

    const dst = path.join(await scratch.dir("dst"), "out");
    await t.repo.checkout(third.snapshot.id, dst);
    expect((await fs.readdir(dst)).sort()).toEqual(["a-notes.txt", "b-one.sqlite", "c-two.sqlite", "d-three.sqlite"]);
    for (const db of dbs) expect(count(path.join(dst, path.basename(db)))).toEqual(count(db));
  });

  it("an unchanged database is not captured again; a change that sits only in its -wal is", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "live.sqlite");
    buildOpenClawLikeDb(db, 2 * 1024 * 1024);
    // Keep a reader's -wal and -shm beside it, as a live gateway does: capturing the database
    // (which opens it, and as root re-chowns the -wal) must not make it look changed next time.
    const { DatabaseSync } = await import("node:sqlite");
    const idle = new DatabaseSync(db);
    idle.exec("PRAGMA wal_autocheckpoint = 0; UPDATE memory SET updated_at = updated_at WHERE id = 2");
    await settle(db);
    await t.repo.commit(src);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(0);
    expect((await t.repo.commit(src)).snapshot.stats.filesRead).toBe(0);
    idle.close();
    await t.repo.commit(src);

    // Keep a connection open so the change stays in the -wal (no checkpoint on close).
    const conn = new DatabaseSync(db);
    conn.exec("PRAGMA wal_autocheckpoint = 0; UPDATE memory SET updated_at = updated_at + 1 WHERE id = 1");
    const third = await t.repo.commit(src);
    conn.close();
    expect(third.snapshot.stats.filesRead).toBe(1);
    expect(third.snapshot.stats.addedChunks).toBeGreaterThan(0);
  });
});
