import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ScrubError, type CommitScrub, type ProgressEvent } from "../../../src/lib.ts";
import { buildOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { settle } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";

const SECRET = "hunter2-9f1c7e04d2b8";

/** Files a commit read (its per-file progress events, which a reused listing does not send). */
function fileEvents(): { events: string[]; progress: { progress(e: ProgressEvent): void } } {
  const events: string[] = [];
  return { events, progress: { progress: (e) => void (e.phase === "commit" && e.path && events.push(e.path)) } };
}

/** Replaces SECRET in config.json; deletes the `secrets` table's rows from every database copy. */
function scrub(id: string, calls: string[] = []): CommitScrub {
  return {
    id,
    database(copyPath, relPath) {
      calls.push(relPath);
      const db = new DatabaseSync(copyPath);
      try {
        db.exec("PRAGMA secure_delete = ON; DELETE FROM secrets;");
        db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
      } finally {
        db.close();
      }
    },
    file: {
      selects: (relPath) => relPath === "config.json",
      rewrite: (_relPath, content) => Buffer.from(content.toString("utf8").replaceAll(SECRET, "REDACTED")),
    },
  };
}

function makeDatabase(file: string, bytes: number): void {
  buildOpenClawLikeDb(file, bytes);
  const db = new DatabaseSync(file);
  db.exec("CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
  db.prepare("INSERT INTO secrets VALUES ('token', ?)").run(`${SECRET}-${"x".repeat(3000)}`);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

async function restoredBytes(repo: { checkout(id: string, dir: string): Promise<unknown> }, id: string, dir: string, rel: string): Promise<Buffer> {
  const out = path.join(dir, `restored-${id.slice(0, 8)}`);
  await repo.checkout(id, out);
  return fs.readFile(path.join(out, rel));
}

describe("a commit's scrub (CommitScrub)", () => {
  const scratch = useScratch();

  it("stores the scrubbed content of selected files and of every database, by both capture paths; the sources are untouched", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: SECRET, name: "kept" }));
    await fs.writeFile(path.join(src, "other.json"), "not selected");
    // A small database (read whole, captured in turn) and one over 4 MiB (captured ahead).
    makeDatabase(path.join(src, "small.sqlite"), 200 * 1024);
    makeDatabase(path.join(src, "large.sqlite"), 6 * 1024 * 1024);
    await settle(path.join(src, "config.json"), path.join(src, "small.sqlite"), path.join(src, "large.sqlite"));
    const before = await fs.readFile(path.join(src, "large.sqlite"));

    const calls: string[] = [];
    const snap = (await t.repo.commit(src, { scrub: scrub("v1", calls) })).snapshot;
    expect(calls.sort()).toEqual(["large.sqlite", "small.sqlite"]);
    expect((await fs.readFile(path.join(src, "large.sqlite"))).equals(before)).toBe(true);

    const out = await scratch.dir("out");
    const config = await restoredBytes(t.repo, snap.id, out, "config.json");
    expect(JSON.parse(config.toString())).toEqual({ token: "REDACTED", name: "kept" });
    const entry = (await t.repo.ls(snap.id)).find((e) => e.path === "config.json");
    expect(entry?.size).toBe(config.byteLength);
    for (const name of ["small.sqlite", "large.sqlite"]) {
      const file = path.join(out, `restored-${snap.id.slice(0, 8)}`, name);
      expect((await fs.readFile(file)).includes(SECRET)).toBe(false);
      const db = new DatabaseSync(file, { readOnly: true });
      expect(db.prepare("SELECT count(*) AS n FROM secrets").get()?.n).toBe(0);
      expect(Number(db.prepare("SELECT count(*) AS n FROM transcript_events").get()?.n)).toBeGreaterThan(0);
      expect(db.prepare("PRAGMA integrity_check").get()?.integrity_check).toBe("ok");
      db.close();
    }
    expect((await fs.readFile(path.join(out, `restored-${snap.id.slice(0, 8)}`, "other.json"), "utf8"))).toBe("not selected");
  });

  it("an unchanged file is taken from the stat cache only under the same scrub: another scrub, or none, reads it again", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: SECRET }));
    await fs.writeFile(path.join(src, "notes.md"), "# notes\n");
    makeDatabase(path.join(src, "state.sqlite"), 100 * 1024);
    await settle(path.join(src, "config.json"), path.join(src, "notes.md"), path.join(src, "state.sqlite"));

    await t.repo.commit(src, { scrub: scrub("v1") });
    // Same scrub, nothing changed: the listing is reused, nothing is read or stored.
    const same = fileEvents();
    const again = await t.repo.commit(src, { scrub: scrub("v1"), progress: same.progress });
    expect(same.events).toEqual([]);
    expect(again.snapshot.stats.addedBytes).toBe(0);

    // Another scrub: the scrubbed files are read again (and only they), the others come from the cache.
    const other = scrub("v2");
    other.file!.rewrite = (_p, content) => Buffer.from(content.toString().replaceAll(SECRET, "HIDDEN"));
    const v2 = await t.repo.commit(src, { scrub: other });
    expect(v2.snapshot.stats.filesRead).toBe(2);
    const out = await scratch.dir("out");
    expect(JSON.parse((await restoredBytes(t.repo, v2.snapshot.id, out, "config.json")).toString())).toEqual({ token: "HIDDEN" });

    // No scrub: stored as it is (the cache's scrubbed chunks are not reused for it).
    const plain = await t.repo.commit(src);
    expect(plain.snapshot.stats.filesRead).toBe(2);
    expect((await restoredBytes(t.repo, plain.snapshot.id, out, "config.json")).toString()).toContain(SECRET);
    expect((await restoredBytes(t.repo, plain.snapshot.id, out, "state.sqlite")).includes(SECRET)).toBe(true);

    // And back: scrubbed again, from a stat cache that now holds the plain rows.
    const back = await t.repo.commit(src, { scrub: scrub("v1") });
    expect(back.snapshot.stats.filesRead).toBe(2);
    expect((await restoredBytes(t.repo, back.snapshot.id, out, "config.json")).toString()).not.toContain(SECRET);
    // The same scrubbed bytes as the first commit's: deterministic, so nothing new was stored for them.
    expect(back.snapshot.stats.addedBytes).toBe(0);
  });

  it("a scrubbed file or a database taken from the stat cache is listed with the size of what was stored, and restores", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: SECRET }));
    // A database whose last transactions are still in its -wal: its capture is larger than its file.
    const dbFile = path.join(src, "state.sqlite");
    makeDatabase(dbFile, 100 * 1024);
    const writer = new DatabaseSync(dbFile);
    writer.exec("PRAGMA wal_autocheckpoint = 0; CREATE TABLE grown (x BLOB);");
    writer.prepare("INSERT INTO grown VALUES (randomblob(200000))").run();
    await settle(path.join(src, "config.json"), dbFile, `${dbFile}-wal`);
    try {
      const first = await t.repo.commit(src, { scrub: scrub("v1") });
      // A new file: the listing memo does not apply, each unchanged file comes from the stat cache.
      await fs.writeFile(path.join(src, "new.txt"), "new");
      await settle(path.join(src, "new.txt"));
      const second = await t.repo.commit(src, { scrub: scrub("v1") });
      expect(second.snapshot.stats.filesRead).toBe(1);
      const sizes = async (id: string) => Object.fromEntries((await t.repo.ls(id)).filter((e) => e.type === "file").map((e) => [e.path, e.size]));
      const firstSizes = await sizes(first.snapshot.id);
      expect(await sizes(second.snapshot.id)).toEqual({ ...firstSizes, "new.txt": 3 });
      expect(firstSizes["state.sqlite"]).toBeGreaterThan((await fs.stat(dbFile)).size);
      const out = await scratch.dir("out");
      expect(JSON.parse((await restoredBytes(t.repo, second.snapshot.id, out, "config.json")).toString())).toEqual({ token: "REDACTED" });
    } finally {
      writer.close();
    }
  });

  it("a scrub that fails, or leaves its changes in a -wal, fails the commit: nothing is stored unscrubbed", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    makeDatabase(path.join(src, "state.sqlite"), 100 * 1024);
    const throwing: CommitScrub = {
      id: "throws",
      database() {
        throw new Error("scrub failed");
      },
    };
    await expect(t.repo.commit(src, { scrub: throwing })).rejects.toThrow(/state\.sqlite: scrub failed: scrub failed/);
    const leavesWal: CommitScrub = {
      id: "wal",
      database(copyPath) {
        const db = new DatabaseSync(copyPath);
        db.exec("PRAGMA wal_autocheckpoint = 0; DELETE FROM secrets;");
        // Left open: its changes stay in the -wal (the process's own connection, closed by GC).
        (globalThis as { leaked?: unknown }).leaked = db;
      },
    };
    await expect(t.repo.commit(src, { scrub: leavesWal })).rejects.toThrow(ScrubError);
    ((globalThis as { leaked?: DatabaseSync }).leaked)?.close();
    expect(await t.repo.log()).toEqual([]);
  });

  it("a checkout's safety snapshot is scrubbed with the scrub it is given", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: "old" }));
    const first = await t.repo.commit(src, { scrub: scrub("v1") });
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: SECRET }));
    const result = await t.repo.checkout(first.snapshot.id, src, { scrub: scrub("v1") });
    expect(result.safetySnapshot).toBeDefined();
    const out = await scratch.dir("out");
    expect((await restoredBytes(t.repo, result.safetySnapshot!, out, "config.json")).toString()).toBe(JSON.stringify({ token: "REDACTED" }));
  });

  it("a diff against a folder goes through the scrub its commits used", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "config.json"), JSON.stringify({ token: SECRET }));
    makeDatabase(path.join(src, "state.sqlite"), 100 * 1024);
    const snap = await t.repo.commit(src, { scrub: scrub("v1") });
    expect(await t.repo.diff(snap.snapshot.id, { dir: src, scrub: scrub("v1") })).toEqual([]);
    expect((await t.repo.diff(snap.snapshot.id, { dir: src })).map((c) => c.path).sort()).toEqual(["config.json", "state.sqlite"]);
  });
});
