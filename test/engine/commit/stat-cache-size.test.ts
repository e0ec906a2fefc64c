import { describe, expect, it, vi } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { buildOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { settle } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { IndexCache } from "../../../src/index/cache.ts";

describe("the stat cache and the size a listing records", () => {
  const scratch = useScratch();

  // A database's capture holds the transactions still in its -wal, so it can be larger than the
  // database file, whose size is what the stat cache matches on. A snapshot that took the
  // unchanged database from the cache listed the file's size against the capture's chunks, and
  // its checkout failed ("chunks add up to 536576 bytes, listing says 335872").
  it("an unchanged database taken from the stat cache is listed with its capture's size (recorded in its row), and restores", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const dbFile = path.join(src, "state.sqlite");
    buildOpenClawLikeDb(dbFile, 100 * 1024);
    const writer = new DatabaseSync(dbFile);
    try {
      writer.exec("PRAGMA wal_autocheckpoint = 0; CREATE TABLE grown (x BLOB);");
      writer.prepare("INSERT INTO grown VALUES (randomblob(200000))").run();
      await settle(dbFile, `${dbFile}-wal`);
      const first = await t.repo.commit(src);
      // Another file, so the listing memo does not apply and the database comes from the stat cache.
      await fs.writeFile(path.join(src, "new.txt"), "new");
      await settle(path.join(src, "new.txt"));
      // The capture's size comes from the stat cache's row, not from a lookup of each chunk.
      const spy = vi.spyOn(IndexCache.prototype, "blob");
      let lookups = -1;
      const second = await t.repo.commit(src).finally(() => {
        lookups = spy.mock.calls.length;
        spy.mockRestore();
      });
      expect(second.snapshot.stats.filesRead).toBe(1);
      expect(lookups).toBe(0);
      const size = async (id: string) => (await t.repo.ls(id)).find((e) => e.path === "state.sqlite")?.size;
      expect(await size(second.snapshot.id)).toBe(await size(first.snapshot.id));
      expect(await size(first.snapshot.id)).toBeGreaterThan((await fs.stat(dbFile)).size);
      await t.repo.checkout(second.snapshot.id, path.join(await scratch.dir("out"), "restored"));
    } finally {
      writer.close();
    }
  });
});
