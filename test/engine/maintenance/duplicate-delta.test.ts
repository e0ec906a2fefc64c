// A blob stored twice, once as a delta and once whole (two machines committing the same new page
// group at once), then a prune that removes the delta copy's base: the copy is spare, and
// `check --read-data` says so as a warning, not as damage.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useScratch } from "../../helpers/scratch.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { prng, randomBytesFrom, describeTree } from "../../helpers/tree.ts";
import { buildOpenClawLikeDb, runSqlElsewhere } from "../../helpers/sqlite-writer.ts";
import { withoutDatabases } from "../../helpers/expected-tree.ts";

describe("a blob stored both as a delta and whole", () => {
  const scratch = useScratch();

  it("check --read-data passes after a prune removes the delta copy's base, and every snapshot restores", async () => {
    const t = await scratch.repo({ packSize: 8 * 1024 * 1024 });
    const srcA = await scratch.dir("a");
    const srcC = await scratch.dir("c");
    // One pack holds a large file and the database's first version: once the file is gone and
    // that version forgotten, the pack is mostly dead and is rewritten without what nothing needs.
    await fs.writeFile(path.join(srcA, "a-big.bin"), randomBytesFrom(prng(7), 4 * 1024 * 1024));
    const db = path.join(srcA, "db.sqlite");
    buildOpenClawLikeDb(db, 1024 * 1024);
    const first = await t.repo.commit(srcA);

    // The second version: a few groups change, and machine A stores them as deltas of the first.
    runSqlElsewhere(db, "UPDATE memory SET text = text || ' (changed)' WHERE id % 7 = 0");
    runSqlElsewhere(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    await fs.rm(path.join(srcA, "a-big.bin"));
    await fs.copyFile(db, path.join(srcC, "copy.sqlite"));

    // Machine C (a cache of its own) commits a copy of the second version; it synced before A's
    // commit of it landed, so it stores the changed groups whole.
    let landed = false;
    const c = await t.reopen({
      cacheDir: await scratch.dir("cache-c"),
      wrapBackend: (b) =>
        faultyBackend(b, {
          async beforeChange() {
            if (landed) return;
            landed = true;
            const a = await t.repo.commit(srcA);
            expect(a.snapshot.stats.addedDeltas).toBeGreaterThan(0);
          },
        }),
    });
    const fromC = await c.commit(srcC);
    expect(landed).toBe(true);
    expect(fromC.snapshot.stats.addedChunks).toBeGreaterThan(0);

    await t.repo.forget([first.snapshot.id]);
    const pruned = await t.repo.prune();
    expect(pruned.packsRepacked + pruned.packsDeleted).toBeGreaterThan(0);

    const check = await t.repo.check({ readData: true });
    expect(check.errors).toEqual([]);
    expect(check.warnings.join("\n")).toMatch(/spare delta copies of blobs stored whole elsewhere/);
    // Every snapshot left restores: the databases to the rows they held, the rest byte for byte.
    const rows = (file: string) => [runSqlElsewhere(file, "PRAGMA integrity_check"), runSqlElsewhere(file, "SELECT count(*) AS n, total(length(text)) AS chars, total(length(embedding)) AS bytes, (SELECT count(*) FROM memory WHERE text LIKE '%(changed)') AS changed FROM memory")];
    const snapshots = await t.repo.log();
    expect(snapshots).toHaveLength(2);
    for (const snap of snapshots) {
      const out = await scratch.dir("out");
      await t.repo.checkout(snap.id, out, { safetySnapshot: false });
      const [from, name] = snap.id === fromC.snapshot.id ? [srcC, "copy.sqlite"] : [srcA, "db.sqlite"];
      expect(withoutDatabases(await describeTree(out))).toEqual(withoutDatabases(await describeTree(from)));
      expect(rows(path.join(out, name))).toEqual(rows(path.join(from, name)));
    }
  });
});
