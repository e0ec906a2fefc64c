// Databases read and hashed ahead of their turn (ScanAhead): at most two reads open at once, each
// pinning its database until it is released, and the scan in its turn answered from what was
// asked ahead, with the hashes a read of its own gives.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { deriveKeys, generateMasterKey } from "../../../src/crypto/keys.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import { ScanAhead } from "../../../src/engine/commit/scan-ahead.ts";
import { statKey } from "../../../src/engine/commit/stat-key.ts";
import { walkTree } from "../../../src/engine/commit/walk.ts";
import { groupHashSeed, UnchangedGroups, type GroupHashWorker } from "../../../src/engine/sqlite/unchanged-groups.ts";
import { openWalCapture } from "../../../src/engine/sqlite/wal-capture.ts";
import { buildOpenClawLikeDb, holdOpen, runSqlElsewhere } from "../../helpers/sqlite-writer.ts";
import { useScratch } from "../../helpers/scratch.ts";

const keys = deriveKeys(generateMasterKey());
const SEED = groupHashSeed(keys);
const GROUP_PAGES = 8;
const codec = createCodec(keys, { encode: 1, decode: 0 });
afterAll(() => codec.close());

/** The codec's worker, counting the ranges sent to it. */
function countingWorker() {
  const worker = { sent: 0, hash: (range: Parameters<GroupHashWorker["hash"]>[0]) => (worker.sent++, codec.hashGroups!(range)), up: () => true };
  return worker;
}

/** Whether another process can checkpoint the whole WAL into the database and empty it (no read pins it). */
function checkpointCompletes(db: string): boolean {
  return (runSqlElsewhere(db, "PRAGMA wal_checkpoint(TRUNCATE)") as { busy?: number }).busy === 0;
}

/** The group hashes of one scan of `db`, through `worker`. */
async function hashesOf(scan: { capture: { source: Parameters<UnchangedGroups["scan"]>[0] }; worker: GroupHashWorker }) {
  const groups = new UnchangedGroups(SEED, undefined);
  await groups.scan(scan.capture.source, GROUP_PAGES, scan.worker, async () => "id", () => true);
  return Buffer.from(groups.result());
}

describe("databases read and hashed ahead of their turn", () => {
  const scratch = useScratch();
  const holders: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const h of holders.splice(0)) await h.stop();
  });

  it("keeps two reads open ahead, answers each scan from its ranges asked ahead, and releases what it opened, taken or not", async () => {
    const src = await scratch.dir("src");
    const names = ["a.sqlite", "b.sqlite", "c.sqlite"];
    for (const [i, name] of names.entries()) {
      buildOpenClawLikeDb(path.join(src, name), 6 * 1024 * 1024, i + 1);
      // Another process keeps it open with frames in its WAL, as a gateway does.
      holders.push(await holdOpen(path.join(src, name), "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; UPDATE memory SET text = text || '!' WHERE id % 7 = 0;"));
    }
    await fs.writeFile(path.join(src, "notes.txt"), "between the databases");
    const items = await walkTree(src, { matches: () => false }, (name) => name.endsWith("-wal") || name.endsWith("-shm"), () => {});
    expect(items.map((i) => i.relPath)).toEqual(["a.sqlite", "b.sqlite", "c.sqlite", "notes.txt"]);
    const db = (name: string) => path.join(src, name);

    const worker = countingWorker();
    const ahead = new ScanAhead(items, async (item) => (item.relPath.endsWith(".sqlite") ? statKey(item.stat) : undefined), worker, GROUP_PAGES, SEED);
    try {
      await ahead.start();
      // a and b are pinned, c is not opened yet.
      expect([checkpointCompletes(db("a.sqlite")), checkpointCompletes(db("b.sqlite")), checkpointCompletes(db("c.sqlite"))]).toEqual([false, false, true]);
      // (The probe emptied c's WAL, and a checkpoint of an empty WAL completes beside a reader.)
      runSqlElsewhere(db("c.sqlite"), "UPDATE memory SET text = text || '#' WHERE id % 11 = 0");
      const asked = worker.sent;
      expect(asked).toBeGreaterThan(2);

      const a = await ahead.take(0);
      expect(a?.key).toEqual(statKey(items[0]!.stat));
      // Taking a opened c.
      expect(checkpointCompletes(db("c.sqlite"))).toBe(false);
      const sentBefore = worker.sent;
      const aHashes = await hashesOf(a!);
      expect(worker.sent).toBe(sentBefore); // every range was answered from what was asked ahead
      await a!.release();
      expect(checkpointCompletes(db("a.sqlite"))).toBe(true);

      // The same state read anew, in the scan's own turn, hashes the same.
      const fresh = await openWalCapture(db("a.sqlite"));
      if (!("capture" in fresh)) throw new Error(fresh.fallback);
      try {
        expect(await hashesOf({ capture: fresh.capture, worker: { hash: (r) => codec.hashGroups!(r), up: () => true } })).toEqual(aHashes);
      } finally {
        await fresh.capture.release();
      }

      // b is passed over (found unchanged, say): taking c releases it.
      const c = await ahead.take(2);
      expect(c).toBeDefined();
      expect(checkpointCompletes(db("b.sqlite"))).toBe(true);
      expect(checkpointCompletes(db("c.sqlite"))).toBe(false);
      await c!.release();
      await c!.release(); // twice is harmless
      expect(checkpointCompletes(db("c.sqlite"))).toBe(true);
    } finally {
      await ahead.close();
    }
  });

  it("ranges the scan hashed itself while the worker was not up are dropped from the worker's queue, and the hashes agree", async () => {
    const src = await scratch.dir("src");
    buildOpenClawLikeDb(path.join(src, "a.sqlite"), 10 * 1024 * 1024, 3);
    holders.push(await holdOpen(path.join(src, "a.sqlite"), "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; UPDATE memory SET text = text || '+' WHERE id % 3 = 0;"));
    const items = await walkTree(src, { matches: () => false }, (name) => name.endsWith("-wal") || name.endsWith("-shm"), () => {});
    // The worker is "not up" until the scan has hashed its first range itself; every range asked
    // ahead waits for that before it reaches the worker.
    let up = false;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const worker: GroupHashWorker = { hash: async (range) => (await gate, codec.hashGroups!(range)), up: () => up };
    const ahead = new ScanAhead(items, async (item) => statKey(item.stat), worker, GROUP_PAGES, SEED);
    try {
      await ahead.start();
      const early = (await ahead.take(0))!;
      const answers = [0, 1, 2].map((i) => early.worker.askedAhead!(i * 4 * 1024 * 1024)!);
      const groups = new UnchangedGroups(SEED, undefined);
      let taken = 0;
      const scanning = groups.scan(early.capture.source, GROUP_PAGES, early.worker, async () => {
        if (++taken === (4 * 1024 * 1024) / (GROUP_PAGES * 4096)) {
          up = true; // the first range is done: from the second on, the answers asked ahead are used
          open();
        }
        return "id";
      }, () => true);
      await scanning;
      const [first, second] = await Promise.all(answers.slice(0, 2));
      expect(first!.byteLength).toBe(0); // dropped: the scan hashed it
      expect(second!.byteLength).toBeGreaterThan(0);
      await early.release();
      // The same state read anew, all on the worker, hashes the same.
      const fresh = await openWalCapture(path.join(src, "a.sqlite"));
      if (!("capture" in fresh)) throw new Error(fresh.fallback);
      try {
        expect(await hashesOf({ capture: fresh.capture, worker: { hash: (r) => codec.hashGroups!(r), up: () => true } })).toEqual(Buffer.from(groups.result()));
      } finally {
        await fresh.capture.release();
      }
    } finally {
      await ahead.close();
    }
  });

  it("closing releases the reads opened ahead that were never taken", async () => {
    const src = await scratch.dir("src");
    for (const [i, name] of ["a.sqlite", "b.sqlite"].entries()) {
      buildOpenClawLikeDb(path.join(src, name), 6 * 1024 * 1024, i + 1);
      holders.push(await holdOpen(path.join(src, name), "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; UPDATE memory SET text = text || '?' WHERE id % 5 = 0;"));
    }
    const items = await walkTree(src, { matches: () => false }, (name) => name.endsWith("-wal") || name.endsWith("-shm"), () => {});
    const ahead = new ScanAhead(items, async (item) => statKey(item.stat), countingWorker(), GROUP_PAGES, SEED);
    await ahead.start();
    expect(checkpointCompletes(path.join(src, "b.sqlite"))).toBe(false);
    await ahead.close();
    expect([checkpointCompletes(path.join(src, "a.sqlite")), checkpointCompletes(path.join(src, "b.sqlite"))]).toEqual([true, true]);
  });

  it("a commit reads changed live databases ahead, restores each to its captured state, and leaves none pinned", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const names = ["a.sqlite", "b.sqlite"];
    for (const [i, name] of names.entries()) {
      buildOpenClawLikeDb(path.join(src, name), 6 * 1024 * 1024, i + 1);
      holders.push(await holdOpen(path.join(src, name), "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;"));
    }
    await fs.writeFile(path.join(src, "notes.txt"), "day one");
    await t.repo.commit(src); // copies (the first quick_check), and records the group hashes
    for (const name of names) runSqlElsewhere(path.join(src, name), "UPDATE memory SET text = text || ' (edited)' WHERE id % 9 = 0");
    await fs.writeFile(path.join(src, "notes.txt"), "day two");
    const expected = await scratch.dir("expected");
    for (const name of names) runSqlElsewhere(path.join(src, name), `VACUUM INTO '${path.join(expected, name)}'`);

    const { snapshot, warnings } = await t.repo.commit(src);
    expect(warnings).toEqual([]);
    expect(snapshot.stats.databasesReadInPlace).toBe(2);
    for (const name of names) expect(checkpointCompletes(path.join(src, name))).toBe(true);

    const out = await scratch.dir("out");
    await t.repo.checkout(snapshot.id, out, { safetySnapshot: false });
    const dump = (file: string) => JSON.stringify(runSqlElsewhere(file, "SELECT count(*) AS n, total(length(text)) AS chars, total(length(embedding)) AS embeddings, total(updated_at) AS times, (SELECT count(*) FROM memory WHERE text LIKE '%(edited)') AS edited, (SELECT count(*) FROM transcript_events) AS events FROM memory"));
    for (const name of names) {
      expect(runSqlElsewhere(path.join(out, name), "PRAGMA integrity_check")).toEqual({ integrity_check: "ok" });
      expect(dump(path.join(out, name))).toBe(dump(path.join(expected, name)));
    }
  });
});
