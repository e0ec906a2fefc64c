// The Restorer with its real engine child, a file:// repository and a real state folder, driven as
// the gateway's hooks drive it: when a restore that writes databases runs (only once no turn is
// running), what it refuses (while a backup or another restore runs), and that a file-only
// restore runs at once without a restart.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { Repository } from "../../../src/lib.ts";
import { parseSettings } from "../../../src/openclaw/config.ts";
import { Restorer, SETTLE_MS } from "../../../src/openclaw/restore/restorer.ts";
import { backupCommitOptions } from "../../../src/openclaw/restore/engine-ops.ts";
import { useScratch } from "../../helpers/scratch.ts";

const PASSPHRASE = "restorer-test-passphrase";

function quietLogger(lines: string[]) {
  return { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Restorer", () => {
  const scratch = useScratch();

  async function setup() {
    const root = await scratch.dir("restorer");
    const state = path.join(root, "state");
    await fs.mkdir(path.join(state, "state"), { recursive: true });
    await fs.mkdir(path.join(state, "workspace"), { recursive: true });
    const db = new DatabaseSync(path.join(state, "state/openclaw.sqlite"));
    db.exec("PRAGMA journal_mode = WAL; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('v1')");
    db.close();
    await fs.writeFile(path.join(state, "workspace/MEMORY.md"), "v1\n");
    const url = `file://${path.join(root, "repo")}`;
    const env = { ...process.env, XDG_CACHE_HOME: path.join(root, "cache") };
    const repo = await Repository.init(url, { passphrase: PASSPHRASE, cacheDir: path.join(root, "test-cache") });
    const v1 = (await repo.commit(state, { reason: "manual", ...backupCommitOptions(state, [], "exclude") })).snapshot;
    await repo.close();
    const db2 = new DatabaseSync(path.join(state, "state/openclaw.sqlite"));
    db2.exec("UPDATE notes SET body = 'v2'");
    db2.close();
    await fs.writeFile(path.join(state, "workspace/MEMORY.md"), "v2\n");
    const settings = parseSettings({ repository: url, passphrase: PASSPHRASE, schedule: "off" }, {});
    const note = () => {
      const d = new DatabaseSync(path.join(state, "state/openclaw.sqlite"), { readOnly: true });
      try {
        return String(d.prepare("SELECT body FROM notes").get()?.body);
      } finally {
        d.close();
      }
    };
    return { state, url, env, settings, v1, note };
  }

  it("a database restore from chat waits for every turn to end, then restarts; meanwhile new turns are held off", async () => {
    const { state, env, settings, v1, note } = await setup();
    const restarts: string[] = [];
    const lines: string[] = [];
    const restorer = new Restorer({ settings, stateDir: state, logger: quietLogger(lines), env, backupRunning: () => false, restart: (r) => restarts.push(r) });

    expect(restorer.onRunStart("asking-turn")).toEqual({ outcome: "pass" });
    expect(restorer.onRunStart("other-turn")).toEqual({ outcome: "pass" });
    const answer = await restorer.restore({ snapshot: v1.id.slice(0, 8), origin: "chat" });
    expect(answer.text).toMatch(/as soon as this reply is finished/);
    expect(answer.text).toMatch(/Restoring is time travel/);
    expect(answer.details).toMatchObject({ scheduled: true, writesDatabases: true });

    // A second request while one waits: refused, saying why.
    const second = await restorer.restore({ snapshot: "latest", origin: "chat" });
    expect(second.text).toMatch(/Not restoring now: a restore of snapshot .* is already waiting/);

    restorer.onRunEnd("asking-turn");
    await sleep(SETTLE_MS * 2 + 500);
    expect(note()).toBe("v2"); // the other turn still runs
    expect(restarts).toEqual([]);

    restorer.onRunEnd("other-turn");
    const deadline = Date.now() + 60_000;
    while (restarts.length === 0 && Date.now() < deadline) await sleep(200);
    expect(restarts).toHaveLength(1);
    expect(note()).toBe("v1");
    expect(await fs.readFile(path.join(state, "workspace/MEMORY.md"), "utf8")).toBe("v1\n");
    // Held off until the restart.
    expect(restorer.onRunStart("late-turn")).toMatchObject({ outcome: "block" });

    const status = await new Restorer({ settings, stateDir: state, logger: quietLogger(lines), env, backupRunning: () => false }).status();
    expect(status.text).toMatch(/Last restore .*Restored the whole state from snapshot/);
    expect(status.details).toMatchObject({ lastRestore: { ok: true, restarted: true, databases: ["state/openclaw.sqlite"] } });
    expect((status.details as { lastRestore: { safetySnapshot?: string } }).lastRestore.safetySnapshot).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses while a backup runs, changing nothing", async () => {
    const { state, env, settings, v1, note } = await setup();
    const restorer = new Restorer({ settings, stateDir: state, logger: quietLogger([]), env, backupRunning: () => true, restart: () => {} });
    const a = await restorer.restore({ snapshot: v1.id, origin: "chat" });
    expect(a.text).toMatch(/Not restoring now: a backup is running right now/);
    expect(a.details).toMatchObject({ ok: false });
    expect(note()).toBe("v2");
  });

  it("a one-file restore runs at once, without a restart, holding backups off while it applies", async () => {
    const { state, env, settings, note } = await setup();
    const restarts: string[] = [];
    const holds: { released: boolean }[] = [];
    const holdBackups = (until: Promise<void>) => {
      const h = { released: false };
      holds.push(h);
      void until.then(() => (h.released = true));
    };
    const restorer = new Restorer({ settings, stateDir: state, logger: quietLogger([]), env, backupRunning: () => false, holdBackups, restart: (r) => restarts.push(r) });
    // A secret file of the machine's: the secrets step must not make a one-file restore touch it.
    await fs.writeFile(path.join(state, ".env"), "KEY=machine\n");
    const envBefore = await fs.stat(path.join(state, ".env"));
    restorer.onRunStart("turn");
    const a = await restorer.restore({ snapshot: "latest", paths: ["workspace/MEMORY.md"], origin: "chat" });
    expect(a.text).toMatch(/^Restored workspace\/MEMORY.md from snapshot .*; 1 file put back/);
    expect((await fs.stat(path.join(state, ".env"))).ino).toBe(envBefore.ino);
    expect(await fs.readFile(path.join(state, "workspace/MEMORY.md"), "utf8")).toBe("v1\n");
    expect(note()).toBe("v2");
    expect(restarts).toEqual([]);
    await sleep(0);
    expect(holds).toEqual([{ released: true }]);
  });

  it("auto-restore: a fresh state is restored from the latest snapshot once; a state of its own never", async () => {
    const { url, env, settings } = await setup();
    const fresh = path.join(await scratch.dir("fresh-machine"), "state");
    await fs.mkdir(path.join(fresh, "state"), { recursive: true });
    const d = new DatabaseSync(path.join(fresh, "state/openclaw.sqlite"));
    d.exec("PRAGMA journal_mode = WAL; CREATE TABLE notes (body TEXT)");
    d.close();
    await fs.writeFile(path.join(fresh, "openclaw.json"), JSON.stringify({ plugins: { entries: { clawback: { config: { repository: url } } } } }));
    const restarts: string[] = [];
    const lines: string[] = [];
    const restorer = new Restorer({ settings, stateDir: fresh, logger: quietLogger(lines), env, backupRunning: () => false, restart: (r) => restarts.push(r) });
    await restorer.autoRestore(fresh);
    const deadline = Date.now() + 60_000;
    while (restarts.length === 0 && Date.now() < deadline) await sleep(200);
    expect(lines.join("\n")).toMatch(/auto-restore: the state is fresh .*restoring the latest snapshot/);
    expect(restarts).toHaveLength(1);
    expect(await fs.readFile(path.join(fresh, "workspace/MEMORY.md"), "utf8")).toBe("v1\n");

    // Once per machine, and a state with its own files is never overwritten.
    const again = new Restorer({ settings, stateDir: fresh, logger: quietLogger(lines), env, backupRunning: () => false, restart: (r) => restarts.push(r) });
    await again.autoRestore(fresh);
    const own = path.join(await scratch.dir("own-machine"), "state");
    await fs.mkdir(path.join(own, "workspace"), { recursive: true });
    await fs.writeFile(path.join(own, "workspace/MEMORY.md"), "mine\n");
    const lines2: string[] = [];
    await new Restorer({ settings, stateDir: own, logger: quietLogger(lines2), env, backupRunning: () => false, restart: (r) => restarts.push(r) }).autoRestore(own);
    expect(lines2.join("\n")).toMatch(/auto-restore: not restoring, this state has agent state of its own \(workspace\/MEMORY.md/);
    await sleep(SETTLE_MS + 500);
    expect(restarts).toHaveLength(1);
    expect(await fs.readFile(path.join(own, "workspace/MEMORY.md"), "utf8")).toBe("mine\n");
  });

  it("auto-restore decided at start is dropped when the state has gained work of its own before it could run", async () => {
    const { url, env, settings } = await setup();
    const fresh = path.join(await scratch.dir("busy-machine"), "state");
    await fs.mkdir(path.join(fresh, "state"), { recursive: true });
    await fs.writeFile(path.join(fresh, "openclaw.json"), JSON.stringify({ plugins: { entries: { clawback: { config: { repository: url } } } } }));
    const restarts: string[] = [];
    const lines: string[] = [];
    const restorer = new Restorer({ settings, stateDir: fresh, logger: quietLogger(lines), env, backupRunning: () => false, restart: (r) => restarts.push(r) });
    const done = restorer.autoRestore(fresh);
    const deadline = Date.now() + 30_000;
    while (!lines.some((l) => l.includes("restoring the latest snapshot")) && Date.now() < deadline) await sleep(100);
    expect(lines.join("\n")).toMatch(/auto-restore: the state is fresh .*restoring the latest snapshot/);
    // A turn writes to the workspace while the auto-restore waits for the gateway to settle.
    await fs.mkdir(path.join(fresh, "workspace"), { recursive: true });
    await fs.writeFile(path.join(fresh, "workspace/MEMORY.md"), "written on this machine\n");
    await done;
    expect(lines.join("\n")).toMatch(/auto-restore of [0-9a-f]{12} dropped: this state has agent state of its own by now \(workspace\/MEMORY.md/);
    expect(restarts).toEqual([]);
    expect(await fs.readFile(path.join(fresh, "workspace/MEMORY.md"), "utf8")).toBe("written on this machine\n");
    expect((await restorer.status()).text).not.toMatch(/Last restore/);
  });

  it("a restore onto a machine with other secrets keeps that machine's own, and the rest of the config comes back", async () => {
    const root = await scratch.dir("secrets-machines");
    const url = `file://${path.join(root, "repo")}`;
    const env = { ...process.env, XDG_CACHE_HOME: path.join(root, "cache") };
    const settings = parseSettings({ repository: url, passphrase: PASSPHRASE, schedule: "off" }, {});
    async function machine(name: string, token: string, model: string): Promise<string> {
      const state = path.join(root, name);
      await fs.mkdir(path.join(state, "state"), { recursive: true });
      await fs.mkdir(path.join(state, "credentials"), { recursive: true });
      await fs.writeFile(path.join(state, "openclaw.json"), JSON.stringify({
        gateway: { mode: "local", auth: { mode: "token", token } },
        models: { providers: { mock: { baseUrl: "http://127.0.0.1:1/v1", apiKey: `${token}-provider-key`, api: "openai-completions", models: [] } } },
        agents: { defaults: { model: { primary: model } } },
      }, null, 2));
      await fs.writeFile(path.join(state, ".env"), `OPENAI_API_KEY=${token}-env\n`);
      await fs.writeFile(path.join(state, "credentials/oauth.json"), JSON.stringify({ token: `${token}-oauth` }));
      const db = new DatabaseSync(path.join(state, "state/openclaw.sqlite"));
      db.exec("PRAGMA journal_mode = WAL; CREATE TABLE device_auth_tokens (device_id TEXT PRIMARY KEY, token TEXT); CREATE TABLE notes (body TEXT)");
      db.prepare("INSERT INTO device_auth_tokens VALUES ('d', ?)").run(`${token}-device`);
      db.prepare("INSERT INTO notes VALUES (?)").run(`${name} note`);
      db.close();
      return state;
    }
    const oldMachine = await machine("old", "OLD-secret-7731", "mock/old-model");
    const repo = await Repository.init(url, { passphrase: PASSPHRASE, cacheDir: path.join(root, "test-cache") });
    await repo.commit(oldMachine, { reason: "manual", ...backupCommitOptions(oldMachine, [], "exclude") });
    await repo.close();

    const newMachine = await machine("new", "NEW-secret-4410", "mock/new-model");
    const a = await new Restorer({ settings, stateDir: newMachine, logger: quietLogger([]), env, backupRunning: () => false }).restore({ snapshot: "latest", origin: "cli" });
    expect(a.details).toMatchObject({ ok: true });
    const config = JSON.parse(await fs.readFile(path.join(newMachine, "openclaw.json"), "utf8"));
    expect(config.gateway.auth.token).toBe("NEW-secret-4410");
    expect(config.models.providers.mock.apiKey).toBe("NEW-secret-4410-provider-key");
    expect(config.agents.defaults.model.primary).toBe("mock/old-model"); // not a secret: restored
    expect(await fs.readFile(path.join(newMachine, ".env"), "utf8")).toContain("NEW-secret-4410-env");
    expect(await fs.readFile(path.join(newMachine, "credentials/oauth.json"), "utf8")).toContain("NEW-secret-4410-oauth");
    const db = new DatabaseSync(path.join(newMachine, "state/openclaw.sqlite"), { readOnly: true });
    try {
      expect(db.prepare("SELECT body FROM notes").all()).toEqual([{ body: "old note" }]);
      expect(db.prepare("SELECT token FROM device_auth_tokens").all()).toEqual([{ token: "NEW-secret-4410-device" }]);
    } finally {
      db.close();
    }
    const everything = JSON.stringify(await readTree(newMachine));
    expect(everything).not.toContain("OLD-secret-7731");
  });
});

async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[path.join(e.parentPath, e.name)] = (await fs.readFile(path.join(e.parentPath, e.name))).toString("latin1");
  }
  return out;
}
