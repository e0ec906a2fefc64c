import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { captureSqlite } from "../../../src/engine/sqlite/sqlite-capture.ts";
import { openWalCapture, type WalCapture } from "../../../src/engine/sqlite/wal-capture.ts";
import { checkWriterInvariants, holdOpen, runSqlElsewhere, startWriter } from "../../helpers/sqlite-writer.ts";

// Invariant 8 (b): a database read through its WAL in place is a state a writer committed, the
// same state the backup API copies, under writers and checkpoints of every mode. No connection of
// this process ever opens the databases under test (DESIGN.md, "One process, one set of locks"):
// writers, checkpointers and set-up run in child processes.

const CHECKPOINTER = fileURLToPath(new URL("../../helpers/sqlite-checkpointer-child.ts", import.meta.url));
const HELD_CONNECTION = fileURLToPath(new URL("../../helpers/held-connection-child.ts", import.meta.url));

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-walcap-"));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

let counter = 0;
async function freshDb(name: string): Promise<string> {
  const dir = path.join(root, `${name}-${++counter}`);
  await fs.mkdir(dir);
  return path.join(dir, "state.sqlite");
}

async function capture(file: string): Promise<WalCapture> {
  const result = await openWalCapture(file);
  if (!("capture" in result)) throw new Error(`fell back: ${result.fallback}`);
  return result.capture;
}

/** Captures `file`, reads the capture whole and releases it. */
async function captureWhole(file: string): Promise<{ capture: WalCapture; bytes: Buffer }> {
  const c = await capture(file);
  try {
    return { capture: c, bytes: await readAll(c) };
  } finally {
    await c.release();
  }
}

async function readAll(c: WalCapture, groupPages = 8): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const group of c.groups(groupPages)) parts.push(Buffer.from(group));
  return Buffer.concat(parts);
}

/** The backup API's copy of `file`, as bytes. */
async function backupCopy(file: string): Promise<Buffer> {
  const copy = await captureSqlite(file, path.dirname(file));
  try {
    return await fs.readFile(copy.file);
  } finally {
    await fs.rm(copy.file, { force: true });
  }
}

/**
 * Equal but for the header fields the backup API rewrites in its copy: the file change counter
 * (offset 24), the schema cookie (40: the copy's own cookie plus one) and the version-valid-for
 * number (92).
 */
function expectSameState(mine: Buffer, copy: Buffer): void {
  expect(mine.byteLength).toBe(copy.byteLength);
  const strip = (b: Buffer) => {
    const c = Buffer.from(b);
    c.fill(0, 24, 28);
    c.fill(0, 40, 44);
    c.fill(0, 92, 96);
    return c;
  };
  expect(strip(mine).equals(strip(copy))).toBe(true);
}

describe("openWalCapture", () => {
  it("reads the state the backup API copies, frames from the WAL over the file's pages, at every page size", async () => {
    for (const pageSize of [4096, 65536, 512]) {
      const db = await freshDb(`same-${pageSize}`);
      const holder = await holdOpen(
        db,
        `PRAGMA page_size = ${pageSize}; PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t (v) SELECT zeroblob(50 + i % 900) FROM n;
         PRAGMA wal_checkpoint(TRUNCATE);
         UPDATE t SET v = randomblob(300) WHERE id % 17 = 0;
         INSERT INTO t (v) SELECT randomblob(2000) FROM t WHERE id < 200;`,
      );
      try {
        const { capture: c, bytes: mine } = await captureWhole(db);
        expect(c.pageSize).toBe(pageSize);
        expect(c.frames).toBeGreaterThan(0);
        expect(mine.byteLength).toBe(c.pages * pageSize);
        expectSameState(mine, await backupCopy(db));
      } finally {
        await holder.stop();
      }
    }
  });

  it("leaves out pages past the end of a database that shrank (VACUUM in the WAL, not yet checkpointed)", async () => {
    const db = await freshDb("shrank");
    const holder = await holdOpen(
      db,
      `PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t (v) SELECT randomblob(1000) FROM n;
       PRAGMA wal_checkpoint(TRUNCATE);
       DELETE FROM t WHERE id > 100; VACUUM;`,
    );
    try {
      const { bytes: mine } = await captureWhole(db);
      const fileBytes = (await fs.stat(db)).size;
      expect(mine.byteLength).toBeLessThan(fileBytes / 4);
      expectSameState(mine, await backupCopy(db));
    } finally {
      await holder.stop();
    }
  });

  it("leaves out the frames of a transaction still being written (a writer whose page cache spilled into the WAL)", async () => {
    const db = await freshDb("spilled");
    const holder = await holdOpen(
      db,
      `PRAGMA journal_mode = WAL; PRAGMA cache_size = 10; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t (v) SELECT randomblob(500) FROM n;
       BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t (v) SELECT randomblob(700) FROM n;`,
    );
    try {
      const { capture: c, bytes: mine } = await captureWhole(db);
      // The spilled frames are in the -wal, past the last commit.
      expect((await fs.stat(`${db}-wal`)).size).toBeGreaterThan(32 + (c.frames + 100) * (24 + c.pageSize));
      expectSameState(mine, await backupCopy(db));
    } finally {
      await holder.stop();
    }
  });

  it("is a state the writer committed, capture after capture, while a writer commits and another process checkpoints in every mode (WAL restarts and truncations included)", async () => {
    const db = await freshDb("busy");
    // Paced, so the database keeps its size however long the captures take.
    const writer = await startWriter(db, "write", { paceMs: 1 });
    const checkpointer = spawn(process.execPath, [CHECKPOINTER, db], { stdio: ["ignore", "pipe", "inherit"] });
    let report = "";
    checkpointer.stdout.setEncoding("utf8").on("data", (d: string) => (report += d));
    await once(checkpointer.stdout, "data");
    const out = path.join(path.dirname(db), "capture.sqlite");
    const CAPTURES = 40;
    let throughWal = 0;
    let emptyWal = 0;
    const fallbacks: string[] = [];
    let lastN = 0;
    try {
      for (let i = 0; i < CAPTURES; i++) {
        const result = await openWalCapture(db);
        if (!("capture" in result)) {
          fallbacks.push(result.fallback);
          continue;
        }
        const c = result.capture;
        let bytes: Buffer;
        try {
          bytes = await readAll(c, 1 + (i % 8));
          if (c.frames === 0) emptyWal++;
          else throughWal++;
        } finally {
          await c.release();
        }
        await fs.writeFile(out, bytes);
        const state = checkWriterInvariants(out);
        // A later read never pins an older snapshot.
        expect(state.n).toBeGreaterThanOrEqual(lastN);
        lastN = state.n;
      }
    } finally {
      checkpointer.kill("SIGTERM");
      await once(checkpointer, "exit");
      await writer.stop();
    }
    const counts = JSON.parse(report.split("\n").find((l) => l.startsWith("{")) ?? "{}") as Record<string, { completed: number }>;
    for (const mode of ["PASSIVE", "FULL", "RESTART", "TRUNCATE"]) expect(counts[mode]?.completed, `${mode} checkpoints completed`).toBeGreaterThan(0);
    expect(throughWal, `fallbacks: ${fallbacks.join("; ")}`).toBeGreaterThanOrEqual(CAPTURES / 2);
        // Captures of a WAL that a TRUNCATE had just emptied read the database file alone.
    expect(throughWal + emptyWal + fallbacks.length).toBe(CAPTURES);
  }, 120_000);

  it("pins its snapshot until released: a TRUNCATE checkpoint of another process cannot complete during the read, and can after", async () => {
    const db = await freshDb("pin");
    const writer = await startWriter(db, "idle-wal");
    try {
      const c = await capture(db);
      expect(c.frames).toBeGreaterThan(0);
      const out = path.join(path.dirname(db), "capture.sqlite");
      const parts: Buffer[] = [];
      try {
        let first = true;
        for await (const group of c.groups(1)) {
          parts.push(Buffer.from(group));
          if (first) {
            first = false;
            // Mid-read: the frames are copied into the file, but the WAL cannot start over.
            expect(runSqlElsewhere(db, "PRAGMA wal_checkpoint(TRUNCATE)")).toMatchObject({ busy: 1 });
          }
        }
      } finally {
        await c.release();
      }
      await fs.writeFile(out, Buffer.concat(parts));
      expect(checkWriterInvariants(out).n).toBe(writer.lastReported);
      expect(runSqlElsewhere(db, "PRAGMA wal_checkpoint(TRUNCATE)")).toMatchObject({ busy: 0 });
      expect((await fs.stat(`${db}-wal`)).size).toBe(0);
    } finally {
      await writer.stop();
    }
  });

  it("is not made while this process has the database open through SQLite: the connection keeps its locks, so no other process deletes the -wal under it", async () => {
    const db = await freshDb("held");
    const writer = await startWriter(db, "idle-wal");
    const child = spawn(process.execPath, [HELD_CONNECTION, db], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const [line] = (await once(child.stdout!, "data")) as [Buffer];
      expect(JSON.parse(line.toString())).toEqual({ fallback: "this process has the database open through SQLite" });
      await writer.stop();
      // Were the held connection's locks dropped (a plain descriptor of the file closed in its
      // process), the sqlite3 shell would take itself for the last connection when it closes, and
      // checkpoint and delete the -wal under the held one (DESIGN.md reproduces it with the shell;
      // node:sqlite's and better-sqlite3's builds leave the -wal in place either way).
      if (spawnSync("sqlite3", ["-version"]).status === 0) {
        expect(spawnSync("sqlite3", [db, "SELECT count(*) FROM rows"]).status).toBe(0);
        expect((await fs.stat(`${db}-wal`)).isFile()).toBe(true);
      }
    } finally {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, "exit");
      await writer.stop();
    }
  });

  it("takes away the empty -wal and -shm that a connection killed while reading left beside a database no one has open, and leaves a writer's in place", async () => {
    const quiet = await freshDb("killed-reader");
    runSqlElsewhere(quiet, "PRAGMA journal_mode = WAL");
    runSqlElsewhere(quiet, "CREATE TABLE t (v); INSERT INTO t VALUES ('kept')");
    // A reader (read-write, as the backup API's capture opens a database no one has open) ended by
    // a signal, as a killed commit or checkout ends: its sidecars stay.
    const reader = await holdOpen(quiet, "SELECT count(*) FROM t");
    await reader.stop();
    expect((await fs.stat(`${quiet}-wal`)).size).toBe(0);
    expect((await fs.stat(`${quiet}-shm`)).isFile()).toBe(true);
    const file = await fs.readFile(quiet);
    const { capture: c, bytes } = await captureWhole(quiet);
    expect(c.frames).toBe(0);
    expect(bytes.equals(file)).toBe(true);
    expect(await fs.readdir(path.dirname(quiet))).toEqual(["state.sqlite"]);
    expect((await fs.readFile(quiet)).equals(file)).toBe(true);

    // A writer's connection after a TRUNCATE checkpoint: an empty -wal too, but not ours to remove.
    const busy = await freshDb("truncated-writer");
    const writer = await holdOpen(busy, "PRAGMA journal_mode = WAL; CREATE TABLE t (v); INSERT INTO t VALUES (1); PRAGMA wal_checkpoint(TRUNCATE);");
    try {
      expect((await fs.stat(`${busy}-wal`)).size).toBe(0);
      await captureWhole(busy);
      expect((await fs.readdir(path.dirname(busy))).sort()).toEqual(["state.sqlite", "state.sqlite-shm", "state.sqlite-wal"]);
      expect(runSqlElsewhere(busy, "INSERT INTO t VALUES (2) RETURNING v")).toEqual({ v: 2 });
    } finally {
      await writer.stop();
    }
  });

  it("falls back to the backup API for a rollback-journal database, a database no one has open, and a file that is not a database", async () => {
    const journal = await freshDb("journal");
    runSqlElsewhere(journal, "CREATE TABLE t (v)");
    expect(await openWalCapture(journal)).toEqual({ fallback: expect.stringMatching(/-shm|not in WAL mode/) });

    const closed = await freshDb("closed");
    runSqlElsewhere(closed, "PRAGMA journal_mode = WAL");
    runSqlElsewhere(closed, "CREATE TABLE t (v)");
    await expect(fs.stat(`${closed}-wal`)).rejects.toThrow();
    expect(await openWalCapture(closed)).toEqual({ fallback: "no -shm beside the database" });

    const text = await freshDb("text");
    await fs.writeFile(text, "not a database ".repeat(100));
    await fs.writeFile(`${text}-shm`, "");
    await fs.writeFile(`${text}-wal`, "");
    expect(await openWalCapture(text)).toEqual({ fallback: "no SQLite header" });
  });
});
