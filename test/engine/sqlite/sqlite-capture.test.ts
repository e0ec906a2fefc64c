import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { IntegrityError, LockedError, PathError, ScratchFullError } from "../../../src/errors.ts";
import { captureSqlite, isSqliteSidecar, pageGroups, readSqliteHeader, sqliteSidecarBase } from "../../../src/engine/sqlite/sqlite-capture.ts";
import { restoreIntoLiveDatabase } from "../../../src/engine/sqlite/sqlite-restore.ts";
import { buildOpenClawLikeDb, checkWriterInvariants, editOpenClawLikeDb, holdOpen, openImmutable, startWriter, type Writer } from "../../helpers/sqlite-writer.ts";
import { mountTmpfs } from "../../helpers/tmpfs.ts";

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-sqlite-test-"));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

let counter = 0;
async function freshDir(name: string): Promise<string> {
  const d = path.join(root, `${name}-${++counter}`);
  await fs.mkdir(d, { recursive: true });
  return d;
}

function makeDb(file: string, opts: { pageSize?: number; wal?: boolean; rows?: number } = {}): void {
  const db = new DatabaseSync(file);
  if (opts.pageSize) db.exec(`PRAGMA page_size = ${opts.pageSize}`);
  db.exec(`PRAGMA journal_mode = ${opts.wal === false ? "DELETE" : "WAL"}`);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX t_v ON t (v)");
  const ins = db.prepare("INSERT INTO t (v) VALUES (?)");
  db.exec("BEGIN");
  for (let i = 0; i < (opts.rows ?? 2000); i++) ins.run(`row ${i} `.repeat(1 + (i % 40)));
  db.exec("COMMIT");
  db.close();
}

async function sha(file: string): Promise<string> {
  return createHash("sha256").update(await fs.readFile(file)).digest("hex");
}

async function groupHashes(file: string, pageSize: number, g: number): Promise<{ hash: string; bytes: number }[]> {
  const out: { hash: string; bytes: number }[] = [];
  for await (const group of pageGroups(file, pageSize, g)) out.push({ hash: createHash("sha256").update(group).digest("hex"), bytes: group.byteLength });
  return out;
}

describe("readSqliteHeader", () => {
  it("detects databases and their page size from the first 100 bytes", async () => {
    const dir = await freshDir("header");
    for (const [pageSize, wal] of [[4096, true], [8192, false], [65536, true], [512, false]] as const) {
      const file = path.join(dir, `p${pageSize}.sqlite`);
      makeDb(file, { pageSize, wal, rows: 50 });
      expect(await readSqliteHeader(file)).toEqual({ pageSize, wal });
    }
  });

  it("does not detect other files", async () => {
    const dir = await freshDir("nondb");
    const cases: Record<string, Uint8Array> = {
      "empty": new Uint8Array(0),
      "text.txt": Buffer.from("hello, this is not a database at all, just some text that is long enough to fill a header. ".repeat(3)),
      "short": Buffer.from("SQLite for"),
      "almost": Buffer.concat([Buffer.from("SQLite format 4\0"), Buffer.alloc(200)]),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      await fs.writeFile(path.join(dir, name), bytes);
      expect(await readSqliteHeader(path.join(dir, name)), name).toBeUndefined();
    }
  });

  it("reports a damaged header by path, and an unreadable file as a PathError", async () => {
    const dir = await freshDir("badheader");
    const truncated = path.join(dir, "truncated.sqlite");
    await fs.writeFile(truncated, Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(20)]));
    await expect(readSqliteHeader(truncated)).rejects.toThrow(IntegrityError);
    await expect(readSqliteHeader(truncated)).rejects.toThrow(truncated);
    const badPage = path.join(dir, "badpage.sqlite");
    const h = Buffer.alloc(100);
    h.write("SQLite format 3\0", "latin1");
    h.writeUInt16BE(1000, 16);
    await fs.writeFile(badPage, h);
    await expect(readSqliteHeader(badPage)).rejects.toThrow(/badpage\.sqlite.*page size/);
    const missing = path.join(dir, "missing.sqlite");
    await expect(readSqliteHeader(missing)).rejects.toThrow(PathError);
    await expect(readSqliteHeader(missing)).rejects.toThrow(missing);
  });
});

describe("isSqliteSidecar", () => {
  it("recognizes -wal, -shm, -journal, super-journals and dot-lock names", () => {
    for (const name of ["openclaw.sqlite-wal", "openclaw.sqlite-shm", "openclaw-agent.sqlite-journal", "db-wal2", "x.db-mj1A2B3C9D4", "state/openclaw.sqlite-wal", "notes.db.lock", "Notes.SQLITE.LOCK"]) {
      expect(isSqliteSidecar(name), name).toBe(true);
    }
    expect(sqliteSidecarBase("agents/main/agent/openclaw-agent.sqlite-wal")).toBe("openclaw-agent.sqlite");
    expect(sqliteSidecarBase("x.db-mj1A2B3C9D4")).toBe("x.db");
    expect(sqliteSidecarBase("notes.db.lock")).toBe("notes.db");
  });

  it("leaves ordinary names alone", () => {
    for (const name of ["openclaw.sqlite", "openclaw.json", "-wal", "wal", "shm", "journal.md", "yarn.lock", "package-lock.json", "x.db-mj123", "sessions.jsonl.zst", "a-walk"]) {
      expect(isSqliteSidecar(name), name).toBe(false);
    }
  });
});

describe("captureSqlite", () => {
  it("captures consistent committed states while a second process writes", async () => {
    const dir = await freshDir("live");
    const tmp = await freshDir("live-tmp");
    const db = path.join(dir, "openclaw-agent.sqlite");
    let writer: Writer | undefined;
    try {
      writer = await startWriter(db, "write");
      await writer.reach(200);
      const states: number[] = [];
      for (let i = 0; i < 6; i++) {
        const floor = writer.lastReported;
        const copy = await captureSqlite(db, tmp);
        expect(copy.pageSize).toBe(4096);
        expect(copy.via).toBe("in place");
        // A standalone file: nothing beside it, header still in WAL mode as the source.
        expect((await fs.readdir(tmp)).sort()).toEqual([path.basename(copy.file)]);
        expect(await readSqliteHeader(copy.file)).toEqual({ pageSize: 4096, wal: true });
        const state = checkWriterInvariants(copy.file);
        expect(state.n).toBeGreaterThanOrEqual(floor);
        states.push(state.n);
        await fs.rm(copy.file);
        await writer.reach(writer.lastReported + 100);
      }
      // Captures happened while the writer kept committing.
      for (let i = 1; i < states.length; i++) expect(states[i]!).toBeGreaterThan(states[i - 1]!);
      expect(writer.child.exitCode).toBeNull();
    } finally {
      await writer?.stop();
    }
    // The writer's database is intact after being captured repeatedly.
    expect(checkWriterInvariants(db).n).toBeGreaterThan(0);
  });

  it("a copy opens as an ordinary WAL database without any -wal beside it", async () => {
    const dir = await freshDir("reopen");
    const tmp = await freshDir("reopen-tmp");
    const db = path.join(dir, "a.sqlite");
    makeDb(db);
    const copy = await captureSqlite(db, tmp);
    const restored = path.join(dir, "restored.sqlite");
    await fs.rename(copy.file, restored);
    const r = new DatabaseSync(restored);
    expect(r.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(r.prepare("SELECT count(*) AS c FROM t").get()).toEqual({ c: 2000 });
    r.exec("INSERT INTO t (v) VALUES ('after restore')");
    expect(r.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    r.close();
  });

  it("sees only committed data while another process holds a write transaction open", async () => {
    const dir = await freshDir("hold");
    const tmp = await freshDir("hold-tmp");
    const db = path.join(dir, "held.sqlite");
    const writer = await startWriter(db, "hold-wal");
    try {
      const copy = await captureSqlite(db, tmp);
      expect(copy.via).toBe("in place");
      expect(checkWriterInvariants(copy.file).n).toBe(writer.lastReported);
      // The backup API, forced, sees the same.
      const backup = await captureSqlite(db, tmp, { openModes: ["readonly"] });
      expect(backup.via).toBe("backup");
      expect(checkWriterInvariants(backup.file).n).toBe(writer.lastReported);
    } finally {
      await writer.stop();
    }
  });

  it("gives up with a LockedError naming the path when a lock is held throughout", async () => {
    const dir = await freshDir("locked");
    const tmp = await freshDir("locked-tmp");
    const db = path.join(dir, "locked.sqlite");
    const writer = await startWriter(db, "hold-rollback");
    try {
      const started = Date.now();
      const err = await captureSqlite(db, tmp, { busyTimeoutMs: 100, attempts: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockedError);
      expect(String((err as Error).message)).toContain(db);
      expect(Date.now() - started).toBeLessThan(10_000);
      // Nothing was left behind, no 0-page copy passed as a capture.
      expect(await fs.readdir(tmp)).toEqual([]);
    } finally {
      await writer.stop();
    }
    // Once the lock is gone the same database captures fine.
    const copy = await captureSqlite(db, tmp);
    expect(checkWriterInvariants(copy.file).n).toBe(writer.lastReported);
  });

  it("leaves a closed database and its folder exactly as they were", async () => {
    const dir = await freshDir("quiet");
    const tmp = await freshDir("quiet-tmp");
    for (const wal of [true, false]) {
      const db = path.join(dir, `q-${wal}.sqlite`);
      makeDb(db, { wal });
      const before = { files: (await fs.readdir(dir)).sort(), hash: await sha(db), mtime: (await fs.stat(db)).mtimeMs };
      const copy = await captureSqlite(db, tmp);
      expect((await fs.readdir(dir)).sort()).toEqual(before.files);
      expect(await sha(db)).toBe(before.hash);
      expect((await fs.stat(db)).mtimeMs).toBe(before.mtime);
      // A closed, checkpointed database's copy holds the same pages apart from the header.
      const a = await fs.readFile(db);
      const b = await fs.readFile(copy.file);
      expect(b.length).toBe(a.length);
      expect(b.subarray(100).equals(a.subarray(100))).toBe(true);
      await fs.rm(copy.file);
    }
  });

  it("copies every page size, and works through each way of opening the source", async () => {
    const dir = await freshDir("modes");
    const tmp = await freshDir("modes-tmp");
    for (const pageSize of [1024, 65536]) {
      const db = path.join(dir, `p${pageSize}.sqlite`);
      makeDb(db, { pageSize });
      for (const mode of ["readonly", "readwrite", "immutable"] as const) {
        const copy = await captureSqlite(db, tmp, { openModes: [mode] });
        expect(copy.pageSize).toBe(pageSize);
        const c = openImmutable(copy.file);
        expect(c.prepare("SELECT count(*) AS c FROM t").get()).toEqual({ c: 2000 });
        c.close();
        await fs.rm(copy.file);
      }
    }
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it("reports damaged, truncated, foreign and missing files with a named error naming the path", async () => {
    const dir = await freshDir("corrupt");
    const tmp = await freshDir("corrupt-tmp");
    const good = path.join(dir, "good.sqlite");
    makeDb(good, { wal: false, rows: 5000 });
    const size = (await fs.stat(good)).size;

    const truncated = path.join(dir, "truncated.sqlite");
    await fs.writeFile(truncated, (await fs.readFile(good)).subarray(0, Math.floor(size / 2) + 1234));
    const scrambled = path.join(dir, "scrambled.sqlite");
    const bytes = await fs.readFile(good);
    for (let off = 4096 * 3; off < bytes.length; off += 4096 * 2) bytes.fill(0x5a, off + 8, off + 600);
    await fs.writeFile(scrambled, bytes);
    const onlyHeader = path.join(dir, "only-header.sqlite");
    await fs.writeFile(onlyHeader, (await fs.readFile(good)).subarray(0, 100));

    for (const file of [truncated, scrambled, onlyHeader]) {
      const err = await captureSqlite(file, tmp).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toContain(file);
    }

    const text = path.join(dir, "notes.txt");
    await fs.writeFile(text, "not a database\n".repeat(100));
    await expect(captureSqlite(text, tmp)).rejects.toThrow(IntegrityError);
    await expect(captureSqlite(text, tmp)).rejects.toThrow(text);

    const missing = path.join(dir, "missing.sqlite");
    await expect(captureSqlite(missing, tmp)).rejects.toThrow(PathError);
    await expect(captureSqlite(missing, tmp)).rejects.toThrow(missing);
    await expect(fs.stat(missing)).rejects.toThrow(); // never created by the attempt
    await expect(captureSqlite(dir, tmp)).rejects.toThrow(PathError);
    await expect(captureSqlite(good, path.join(dir, "no-such-tmp"))).rejects.toThrow(PathError);

    expect(await fs.readdir(tmp)).toEqual([]);
  });
});

describe("captureSqlite into a full folder", () => {
  it("fails at once with a ScratchFullError naming the folder, leaving nothing in it, by either way of copying", async (ctx) => {
    const dir = await freshDir("capture-full");
    const db = path.join(dir, "big.sqlite");
    makeDb(db, { rows: 20_000 }); // several MiB, more than the folder below can hold
    const small = path.join(dir, "small");
    await fs.mkdir(small);
    const unmount = mountTmpfs(small, "1m");
    if (!unmount) return ctx.skip();
    try {
      // Closed: the backup API copies it. Held open by another process: copied from a read in place.
      for (const open of [false, true]) {
        const holder = open ? await holdOpen(db, "SELECT 1") : undefined;
        try {
          if (open) expect((await fs.readdir(dir)).sort()).toEqual(["big.sqlite", "big.sqlite-shm", "big.sqlite-wal", "small"]);
          const err = await captureSqlite(db, small).then(() => undefined, (e: unknown) => e);
          expect(err).toBeInstanceOf(ScratchFullError);
          expect((err as ScratchFullError).path).toBe(small);
          // Said at once, not after the retries a busy database gets ("SQLite backup failed 5 times").
          expect((err as Error).message).toContain(`no room for the copy of ${db}`);
          expect(await fs.readdir(small)).toEqual([]);
        } finally {
          await holder?.stop();
        }
      }
    } finally {
      unmount();
    }
  });
});

describe("pageGroups", () => {
  it("cuts a file into page-aligned groups that concatenate to the file", async () => {
    const dir = await freshDir("groups");
    const db = path.join(dir, "g.sqlite");
    makeDb(db, { rows: 3000 });
    const copy = await captureSqlite(db, dir);
    const whole = await fs.readFile(copy.file);
    const pages = whole.length / 4096;
    expect(Number.isInteger(pages)).toBe(true);
    for (const g of [1, 3, 4, 7, 1000]) {
      const groups: Uint8Array[] = [];
      for await (const group of pageGroups(copy.file, 4096, g)) groups.push(Buffer.from(group)); // a view, valid until the next
      expect(groups.length).toBe(Math.ceil(pages / g));
      groups.forEach((group, i) => {
        if (i < groups.length - 1) expect(group.byteLength).toBe(4096 * g);
        else expect(group.byteLength).toBe(4096 * (pages - g * (groups.length - 1)));
        expect(Buffer.from(group).equals(whole.subarray(i * 4096 * g, i * 4096 * g + group.byteLength))).toBe(true);
      });
      expect(Buffer.concat(groups).equals(whole)).toBe(true);
    }
    // A file that is not a whole number of pages: the tail is the short last group.
    const odd = path.join(dir, "odd");
    await fs.writeFile(odd, whole.subarray(0, 4096 * 5 + 100));
    const sizes: number[] = [];
    for await (const group of pageGroups(odd, 4096, 2)) sizes.push(group.byteLength);
    expect(sizes).toEqual([8192, 8192, 4096 + 100]);
    const empty = path.join(dir, "empty");
    await fs.writeFile(empty, "");
    for await (const _ of pageGroups(empty, 4096, 2)) throw new Error("no group expected");
    await expect(pageGroups(odd, 1000, 2).next()).rejects.toThrow(RangeError);
    await expect(pageGroups(odd, 4096, 0).next()).rejects.toThrow(RangeError);
  });

  it("streams: reads lazily and keeps memory bounded on a large file", async () => {
    const dir = await freshDir("stream");
    const big = path.join(dir, "big");
    const size = 64 * 1024 * 1024;
    const fh = await fs.open(big, "w");
    await fh.truncate(size); // sparse
    await fh.close();
    const groupBytes = 4096 * 64;
    const it = pageGroups(big, 4096, 64)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.byteLength).toBe(groupBytes);
    // Nothing beyond the current group has been read: a write further on is seen later.
    const fw = await fs.open(big, "r+");
    await fw.write(Buffer.from("later"), 0, 5, groupBytes * 100);
    await fw.close();
    let index = 1;
    let total = groupBytes;
    let seen = false;
    let peak = 0;
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      if (index === 100) seen = Buffer.from(r.value.subarray(0, 5)).toString() === "later";
      total += r.value.byteLength;
      index++;
      if (index % 8 === 0) {
        // Count what is still referenced, not garbage: collect often (buffers freed by one
        // collection leave the count a little later, so a few groups' worth always shows).
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      }
    }
    expect(seen).toBe(true);
    expect(total).toBe(size);
    // One read block (1 MiB) and the group in hand, whatever the file's size.
    expect(peak).toBeLessThan(8 * 1024 * 1024);
  });
});

describe("page groups after a small update", () => {
  // Groups of 2 pages: what is stored after such an update is bounded in sqlite-commit.test.ts
  // with the default (larger) groups, whose changed groups are stored as deltas.
  it("1 % of rows updated in a ~50 MB database changes under 15 % of its bytes, in groups of 2 pages", async () => {
    const dir = await freshDir("dedup");
    const db = path.join(dir, "openclaw-agent.sqlite");
    buildOpenClawLikeDb(db, 50 * 1024 * 1024);
    const a = await captureSqlite(db, dir);
    editOpenClawLikeDb(db, "update-random", 0.01);
    const b = await captureSqlite(db, dir);
    const before = new Set((await groupHashes(a.file, a.pageSize, 2)).map((g) => g.hash));
    const after = await groupHashes(b.file, b.pageSize, 2);
    const size = (await fs.stat(b.file)).size;
    expect(size).toBeGreaterThan(45 * 1024 * 1024);
    expect(after.reduce((s, g) => s + g.bytes, 0)).toBe(size);
    const changed = after.filter((g) => !before.has(g.hash)).reduce((s, g) => s + g.bytes, 0);
    expect(changed).toBeGreaterThan(0);
    expect(changed / size).toBeLessThan(0.15);
  });
});

describe("restoreIntoLiveDatabase", () => {
  it("writes a capture into an open WAL database through the backup API", async () => {
    const dir = await freshDir("restore-live");
    const target = path.join(dir, "live.sqlite");
    const live = new DatabaseSync(target);
    live.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('old')");
    const snap = await captureSqlite(target, dir);
    live.exec("INSERT INTO t VALUES ('new 1'), ('new 2'); CREATE TABLE extra (x)");
    expect(live.prepare("SELECT count(*) AS c FROM t").get()).toEqual({ c: 3 });

    const { pages } = await restoreIntoLiveDatabase(snap.file, target);
    expect(pages).toBeGreaterThan(0);
    // The other connection sees the restored state at once, still in WAL mode, and writes on.
    expect(live.prepare("SELECT v FROM t").all()).toEqual([{ v: "old" }]);
    expect(live.prepare("SELECT count(*) AS c FROM sqlite_schema WHERE name = 'extra'").get()).toEqual({ c: 0 });
    expect(live.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    live.exec("INSERT INTO t VALUES ('after')");
    expect(live.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });

    // A writer holding its lock throughout: a LockedError naming the target, nothing changed.
    live.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES ('pending')");
    const err = await restoreIntoLiveDatabase(snap.file, target, { attempts: 2, busyTimeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as Error).message).toContain(target);
    live.exec("COMMIT");
    expect(live.prepare("SELECT count(*) AS c FROM t").get()).toEqual({ c: 3 });
    live.close();
  });

  it("refuses a copy that is not a sound database", async () => {
    const dir = await freshDir("restore-bad");
    const target = path.join(dir, "live.sqlite");
    makeDb(target, { rows: 10 });
    const junk = path.join(dir, "junk.sqlite");
    await fs.writeFile(junk, "not a database");
    await expect(restoreIntoLiveDatabase(junk, target)).rejects.toThrow(IntegrityError);
    const c = openImmutable(target);
    expect(c.prepare("SELECT count(*) AS c FROM t").get()).toEqual({ c: 10 });
    c.close();
  });
});
