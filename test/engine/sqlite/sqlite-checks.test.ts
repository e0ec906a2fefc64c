import { afterEach, describe, expect, it, vi } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { buildOpenClawLikeDb, editOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { QUICK_CHECK_INTERVAL_MS } from "../../../src/engine/sqlite/check-schedule.ts";
import type { Warning } from "../../../src/engine/types.ts";

const HOUR = 60 * 60 * 1000;
/** Fake clocks start after the files' real mtimes, so that no file looks just written (racy). */
const at = (hours: number) => new Date(START + hours * HOUR);
const START = Date.now() + HOUR;

/** A rollback-journal database whose pages past the third are scrambled: it copies, but fails quick_check. */
async function damagedDb(file: string): Promise<void> {
  const db = new DatabaseSync(file);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT); CREATE INDEX t_body ON t(body);");
  const put = db.prepare("INSERT INTO t (body) VALUES (?)");
  db.exec("BEGIN");
  for (let i = 0; i < 5000; i++) put.run(`row ${i} `.repeat(8));
  db.exec("COMMIT");
  db.close();
  const bytes = await fs.readFile(file);
  for (let off = 4096 * 3; off < bytes.length; off += 4096 * 2) bytes.fill(0x5a, off + 8, off + 600);
  await fs.writeFile(file, bytes);
}

describe("quick_check of captured databases: at most once a day, recorded, kept by retention", () => {
  const scratch = useScratch();
  afterEach(() => {
    vi.useRealTimers();
  });

  it("checks a new database, skips the check of a database that changes again within a day, checks it again a day later", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(at(0));
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw.sqlite");
    buildOpenClawLikeDb(db, 1024 * 1024);

    const first = await t.repo.commit(src);
    expect(first.warnings).toEqual([]);
    expect(first.snapshot.sqliteCheck).toEqual({ databases: 1, passed: 1, failed: [] });

    // Unchanged: not captured, and its stored content is the content that passed.
    vi.setSystemTime(at(1));
    const same = await t.repo.commit(src);
    expect(same.snapshot.stats.filesRead).toBe(0);
    expect(same.snapshot.sqliteCheck).toEqual({ databases: 1, passed: 1, failed: [] });

    // Changed an hour later: stored, not checked (the last check is not a day old).
    vi.setSystemTime(at(2));
    editOpenClawLikeDb(db, "update-random", 0.05, 3);
    const changed = await t.repo.commit(src);
    expect(changed.snapshot.stats.filesRead).toBe(1);
    expect(changed.snapshot.sqliteCheck).toEqual({ databases: 1, passed: 0, failed: [] });

    // Changed again a day after the first check: checked again.
    vi.setSystemTime(new Date(at(0).getTime() + QUICK_CHECK_INTERVAL_MS + HOUR));
    editOpenClawLikeDb(db, "update-random", 0.05, 4);
    const nextDay = await t.repo.commit(src);
    expect(nextDay.snapshot.sqliteCheck).toEqual({ databases: 1, passed: 1, failed: [] });

    // The record is in the stored snapshot, not only in the local cache.
    const fresh = await t.reopen({ cacheDir: await scratch.dir("fresh-cache") });
    const listed = (await fresh.log()).map((s) => s.sqliteCheck?.passed);
    expect(listed).toEqual([1, 1, 0, 1]);
  });

  it("without the index cache the check simply runs", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(at(0));
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw.sqlite");
    buildOpenClawLikeDb(db, 1024 * 1024);
    await t.repo.commit(src);
    vi.setSystemTime(at(1));
    editOpenClawLikeDb(db, "update-random", 0.05, 3);
    const fresh = await t.reopen({ cacheDir: await scratch.dir("fresh-cache") });
    const { snapshot } = await fresh.commit(src);
    expect(snapshot.sqliteCheck).toEqual({ databases: 1, passed: 1, failed: [] });
  });

  it("a database that fails quick_check is stored as found, reported by a warning and in the snapshot record", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await damagedDb(path.join(src, "broken.sqlite"));
    buildOpenClawLikeDb(path.join(src, "good.sqlite"), 512 * 1024);
    const warned: Warning[] = [];
    const { snapshot, warnings } = await t.repo.commit(src, { progress: { warn: (w) => warned.push(w) } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.path).toBe("broken.sqlite");
    expect(warnings[0]!.message).toMatch(/integrity check.*quick_check/);
    expect(warned).toEqual(warnings);
    expect(snapshot.sqliteCheck).toEqual({ databases: 2, passed: 1, failed: ["broken.sqlite"] });
    const listing = await t.repo.ls(snapshot.id);
    expect(listing.map((e) => e.path)).toContain("broken.sqlite");
  });

  it("retention never forgets the newest snapshot whose databases passed", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const db = path.join(src, "openclaw.sqlite");
    buildOpenClawLikeDb(db, 1024 * 1024);
    const ids: string[] = [];
    for (let hour = 0; hour < 4; hour++) {
      vi.setSystemTime(at(hour));
      if (hour > 0) editOpenClawLikeDb(db, "append", 0.02, 10 + hour);
      ids.push((await t.repo.commit(src)).snapshot.id);
    }
    const log = await t.repo.log();
    expect(log.map((s) => s.sqliteCheck?.passed)).toEqual([1, 0, 0, 0]);

    const dry = await t.repo.forgetByPolicy({ keepLast: 1 }, { dryRun: true });
    expect(new Set(dry.kept)).toEqual(new Set([ids[0], ids[3]]));
    expect(new Set(dry.removed)).toEqual(new Set([ids[1], ids[2]]));
  });
});
