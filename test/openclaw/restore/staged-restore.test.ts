import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { LockedError, StorageError } from "../../../src/lib.ts";
import { stagedRestore } from "../../../src/openclaw/restore/staged-restore.ts";
import { KEPT_GLOBAL_TABLES } from "../../../src/openclaw/restore/kept-from-now.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { startS3Server } from "../../helpers/s3-server.ts";
import { startFaultProxy } from "../../helpers/fault-proxy.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../../helpers/repo.ts";
import { Repository } from "../../../src/lib.ts";
import { randomBytes } from "node:crypto";
import { holdDatabases, type DbHolder } from "./helpers/db-holder.ts";

const GLOBAL = "state/openclaw.sqlite";
const AGENT = "agents/main/agent/openclaw-agent.sqlite";
// What a backup of this test state leaves out (as the plugin's would: caches, lock files).
const EXCLUDES = ["cache/**", "*.lock.sqlite"];

function createDb(file: string, sql: string): void {
  const db = new DatabaseSync(file);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(sql);
  db.close();
}

/** A small state folder shaped like OpenClaw's: two WAL databases, workspace, channel keys, caches. */
async function makeState(root: string): Promise<string> {
  const state = path.join(root, "state-dir");
  await fs.mkdir(path.join(state, "state"), { recursive: true });
  await fs.mkdir(path.join(state, "agents/main/agent"), { recursive: true });
  await fs.mkdir(path.join(state, "workspace/memory"), { recursive: true });
  await fs.mkdir(path.join(state, "credentials/whatsapp/default"), { recursive: true });
  await fs.mkdir(path.join(state, "cache"), { recursive: true });
  createDb(path.join(state, GLOBAL), `
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
    CREATE TABLE device_pairing_paired (device_id TEXT PRIMARY KEY, name TEXT);
    CREATE TABLE state_leases (name TEXT PRIMARY KEY, owner TEXT);
    INSERT INTO notes (body) VALUES ('v1 note');
    INSERT INTO device_pairing_paired VALUES ('phone-1', 'old phone');
    INSERT INTO state_leases VALUES ('gateway', 'boot-1');`);
  createDb(path.join(state, AGENT), `
    CREATE TABLE session_nodes (session_key TEXT PRIMARY KEY, entry_json TEXT);
    INSERT INTO session_nodes VALUES ('agent:main:main', '{"turns":1}');`);
  await fs.writeFile(path.join(state, "workspace/MEMORY.md"), "v1 memory\n");
  await fs.writeFile(path.join(state, "workspace/memory/2026-12-05.md"), "v1 day\n");
  await fs.writeFile(path.join(state, "credentials/whatsapp/default/creds.json"), '{"ratchet":1}');
  await fs.writeFile(path.join(state, "openclaw.json"), '{"v":1}');
  await fs.writeFile(path.join(state, "cache/ui.js"), "v1 cache");
  await fs.writeFile(path.join(state, "gateway.1.lock.sqlite"), "lock");
  return state;
}

/** Moves the state on to "v2": what a restore of the v1 snapshot must undo (or keep). */
async function advance(state: string, holder: DbHolder): Promise<void> {
  await holder.exec(0, "INSERT INTO notes (body) VALUES ('v2 note'); INSERT INTO device_pairing_paired VALUES ('phone-2', 'new phone'); UPDATE state_leases SET owner = 'boot-2'");
  await holder.exec(1, `UPDATE session_nodes SET entry_json = '{"turns":2}'; INSERT INTO session_nodes VALUES ('agent:main:other', '{}')`);
  await fs.writeFile(path.join(state, "workspace/MEMORY.md"), "v2 memory\n");
  await fs.writeFile(path.join(state, "workspace/new-note.md"), "made after the snapshot\n");
  await fs.writeFile(path.join(state, "credentials/whatsapp/default/creds.json"), '{"ratchet":2}');
  await fs.writeFile(path.join(state, "openclaw.json"), '{"v":2}');
  await fs.writeFile(path.join(state, "cache/ui.js"), "v2 cache");
}

/** Every file's content (databases read through SQLite), for "exactly as before" comparisons. */
async function fingerprint(state: string, holder: DbHolder): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function visit(rel: string): Promise<void> {
    for (const e of await fs.readdir(path.join(state, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(p);
      else if (!/\.sqlite(-wal|-shm)?$/.test(p)) out[p] = createHash("sha256").update(await fs.readFile(path.join(state, p))).digest("hex");
    }
  }
  await visit("");
  out[GLOBAL] = JSON.stringify([await holder.query(0, "SELECT * FROM notes"), await holder.query(0, "SELECT * FROM device_pairing_paired")]);
  out[AGENT] = JSON.stringify(await holder.query(1, "SELECT * FROM session_nodes ORDER BY session_key"));
  return out;
}

describe("stagedRestore", () => {
  const scratch = useScratch();
  let holder: DbHolder | undefined;
  afterEach(async () => {
    await holder?.stop();
    holder = undefined;
  });

  async function setup() {
    const root = await scratch.dir("restore-state");
    const state = await makeState(root);
    const t = await scratch.repo();
    const v1 = (await t.repo.commit(state, { reason: "manual", excludes: EXCLUDES })).snapshot.id;
    holder = await holdDatabases([path.join(state, GLOBAL), path.join(state, AGENT)]);
    await advance(state, holder);
    return { state, t, v1, holder };
  }

  it("rolls back databases in place (open connections see it), files, and removals; keeps pairings, leases, channel keys and excluded files from now", async () => {
    const { state, t, v1, holder } = await setup();
    const r = await stagedRestore(t.repo, { stateDir: state, snapshot: v1, excludes: EXCLUDES, secrets: "include" });

    // The gateway's own connections (never reopened) read the snapshot's rows at once.
    expect(await holder.query(0, "SELECT body FROM notes")).toEqual([{ body: "v1 note" }]);
    expect(await holder.query(1, "SELECT session_key, entry_json FROM session_nodes")).toEqual([{ session_key: "agent:main:main", entry_json: '{"turns":1}' }]);
    // Kept from now: pairings made since, the gateway's lease, WhatsApp's ratchet, caches.
    expect(await holder.query(0, "SELECT device_id FROM device_pairing_paired ORDER BY device_id")).toEqual([{ device_id: "phone-1" }, { device_id: "phone-2" }]);
    expect(await holder.query(0, "SELECT owner FROM state_leases")).toEqual([{ owner: "boot-2" }]);
    expect(await fs.readFile(path.join(state, "credentials/whatsapp/default/creds.json"), "utf8")).toBe('{"ratchet":2}');
    expect(await fs.readFile(path.join(state, "cache/ui.js"), "utf8")).toBe("v2 cache");
    expect(await fs.readFile(path.join(state, "gateway.1.lock.sqlite"), "utf8")).toBe("lock");
    // Rolled back: files, and a file made since is gone (it is in the safety snapshot).
    expect(await fs.readFile(path.join(state, "workspace/MEMORY.md"), "utf8")).toBe("v1 memory\n");
    expect(await fs.readFile(path.join(state, "openclaw.json"), "utf8")).toBe('{"v":1}');
    await expect(fs.access(path.join(state, "workspace/new-note.md"))).rejects.toThrow();
    expect(r.removed).toEqual(["workspace/new-note.md"]);
    expect(r.databases.sort()).toEqual([AGENT, GLOBAL]);
    expect(r.keptPaths).toEqual(["credentials/whatsapp/default/creds.json"]);
    expect(r.carriedTables.map((c) => c.table).sort()).toEqual(["device_pairing_paired", "state_leases"].filter((x) => KEPT_GLOBAL_TABLES.includes(x)));
    expect(r.needsRestart).toBe(true);
    // Later writes through the open connection are clean.
    await holder.exec(0, "INSERT INTO notes (body) VALUES ('after restore')");
    expect(await holder.query(0, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);

    // The safety snapshot holds the state before the restore and can undo it.
    const safety = await t.repo.show(r.safetySnapshot!);
    expect(safety.reason).toBe("safety");
    expect(safety.tags).toContain(`before-restore:${v1.slice(0, 12)}`);
    expect((await t.repo.ls(r.safetySnapshot!)).map((e) => e.path)).toContain("workspace/new-note.md");
    await t.repo.forgetByPolicy({ keepLast: 1 });
    expect((await t.repo.log()).map((s) => s.id)).toContain(r.safetySnapshot);

    const undo = await stagedRestore(t.repo, { stateDir: state, snapshot: r.safetySnapshot!, excludes: EXCLUDES, secrets: "include" });
    expect(undo.databases.length).toBe(2);
    expect(await fs.readFile(path.join(state, "workspace/new-note.md"), "utf8")).toBe("made after the snapshot\n");
    expect(await holder.query(1, "SELECT count(*) AS n FROM session_nodes")).toEqual([{ n: 2 }]);
  });

  it("a one-file restore touches that file only and needs no restart", async () => {
    const { state, t, v1, holder } = await setup();
    const before = await fingerprint(state, holder);
    const r = await stagedRestore(t.repo, { stateDir: state, snapshot: v1, paths: ["workspace/MEMORY.md"], excludes: EXCLUDES, secrets: "include" });
    const after = await fingerprint(state, holder);
    expect(after["workspace/MEMORY.md"]).not.toBe(before["workspace/MEMORY.md"]);
    expect(await fs.readFile(path.join(state, "workspace/MEMORY.md"), "utf8")).toBe("v1 memory\n");
    delete before["workspace/MEMORY.md"];
    delete after["workspace/MEMORY.md"];
    expect(after).toEqual(before);
    expect(r).toMatchObject({ files: 1, databases: [], removed: [], needsRestart: false });
  });

  it("channel keys come back only when named by path", async () => {
    const { state, t, v1 } = await setup();
    await stagedRestore(t.repo, { stateDir: state, snapshot: v1, paths: ["credentials"], excludes: EXCLUDES, secrets: "include" });
    expect(await fs.readFile(path.join(state, "credentials/whatsapp/default/creds.json"), "utf8")).toBe('{"ratchet":2}');
    await stagedRestore(t.repo, { stateDir: state, snapshot: v1, paths: ["credentials/whatsapp"], excludes: EXCLUDES, secrets: "include" });
    expect(await fs.readFile(path.join(state, "credentials/whatsapp/default/creds.json"), "utf8")).toBe('{"ratchet":1}');
  });

  it("a download failing midway leaves the state exactly as before", async () => {
    const { state, t, v1, holder } = await setup();
    const before = await fingerprint(state, holder);
    const failing = await t.reopen({ cacheDir: await scratch.dir("cold-cache"), wrapBackend: (b) => faultyBackend(b, { failGetFrom: 2, getPrefix: "data/" }) });
    await expect(stagedRestore(failing, { stateDir: state, snapshot: v1, excludes: EXCLUDES, secrets: "include", noSafetySnapshot: true })).rejects.toThrow(StorageError);
    expect(await fingerprint(state, holder)).toEqual(before);
    expect((await fs.readdir(path.dirname(state))).filter((n) => n.includes("clawback"))).toEqual([]);
  });

  it("a database held locked by a writer: refused, and what was written is put back", async () => {
    const { state, t, v1, holder } = await setup();
    const before = await fingerprint(state, holder);
    await holder.lock(0); // the global database; the agent database (written first) is free
    await expect(stagedRestore(t.repo, { stateDir: state, snapshot: v1, excludes: EXCLUDES, secrets: "include", noSafetySnapshot: true })).rejects.toThrow(LockedError);
    await holder.unlock(0);
    expect(await fingerprint(state, holder)).toEqual(before);
  });

  it("over S3, a download cut off midway by the network (fault proxy) leaves the state exactly as before", async () => {
    const s3 = await startS3Server();
    const proxy = await startFaultProxy({ target: s3.endpoint });
    const opened: Repository[] = [];
    try {
      const root = await scratch.dir("restore-s3");
      const state = await makeState(root);
      // Enough data for several packs, so the cut comes after some have arrived.
      for (let i = 0; i < 6; i++) await fs.writeFile(path.join(state, `workspace/blob-${i}.bin`), randomBytes(256 * 1024));
      const env = { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url };
      const url = s3.url("restore-fault");
      const init = { passphrase: PASSPHRASE, scrypt: FAST_SCRYPT, packSize: 256 * 1024, backendOptions: { env } };
      const repo = await Repository.init(url, { ...init, cacheDir: await scratch.dir("cache-a") });
      opened.push(repo);
      const v1 = (await repo.commit(state, { reason: "manual", excludes: EXCLUDES })).snapshot.id;
      holder = await holdDatabases([path.join(state, GLOBAL), path.join(state, AGENT)]);
      await advance(state, holder);
      for (let i = 0; i < 6; i++) await fs.writeFile(path.join(state, `workspace/blob-${i}.bin`), randomBytes(1024));
      const before = await fingerprint(state, holder);

      const cold = await Repository.open(url, { ...init, cacheDir: await scratch.dir("cache-b") });
      opened.push(cold);
      // Once the first pack has been fetched, every request from then on is cut (connection reset).
      const seen = proxy.log.length;
      const cut = setInterval(() => {
        if (proxy.log.slice(seen).some((r) => r.method === "GET" && r.path.includes("/data/") && !r.fault)) {
          proxy.setRate(1, ["reset"]);
          clearInterval(cut);
        }
      }, 5);
      try {
        await expect(stagedRestore(cold, { stateDir: state, snapshot: v1, excludes: EXCLUDES, secrets: "include", noSafetySnapshot: true })).rejects.toThrow(StorageError);
      } finally {
        clearInterval(cut);
      }
      expect(proxy.counts.faults.reset).toBeGreaterThan(0);
      expect(proxy.log.some((r) => r.method === "GET" && r.path.includes("/data/") && !r.fault)).toBe(true);
      expect(await fingerprint(state, holder)).toEqual(before);
      expect((await fs.readdir(path.dirname(state))).filter((n) => n.includes("clawback"))).toEqual([]);
      expect(await holder.query(0, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
    } finally {
      for (const r of opened) await r.close().catch(() => {});
      await proxy.stop();
      await s3.stop();
    }
  });
});
