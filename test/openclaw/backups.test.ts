// The plugin's backup runner outside a gateway, with real engine children and a file://
// repository: triggers during a backup coalesce into one follow-up; a killed child fails that
// backup only and the next trigger works; retention runs after a backup; the status file records
// the last backup and the last error; the default excludes keep regenerable folders out.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Backups, type Logger } from "../../src/openclaw/backups.ts";
import { parseSettings } from "../../src/openclaw/config.ts";
import { StatusStore } from "../../src/openclaw/status-store.ts";
import { useScratch } from "../helpers/scratch.ts";
import { prng, randomBytesFrom } from "../helpers/tree.ts";
import { snapshotsOf } from "./helpers/repo.ts";
import { Repository } from "../../src/lib.ts";

const PASSPHRASE = "backups-test";

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

describe("backup runner", () => {
  const scratch = useScratch();

  async function setup(extra: Record<string, unknown> = {}) {
    const state = await scratch.dir("state");
    const repoDir = await scratch.dir("repo");
    const home = await scratch.dir("home");
    await fs.mkdir(path.join(state, "workspace"), { recursive: true });
    await fs.writeFile(path.join(state, "workspace", "MEMORY.md"), "remember this\n");
    for (const d of ["cache", "tmp", "logs", "extensions"]) {
      await fs.mkdir(path.join(state, d), { recursive: true });
      await fs.writeFile(path.join(state, d, "x.bin"), "regenerable");
    }
    await fs.mkdir(path.join(state, "credentials"), { recursive: true });
    await fs.writeFile(path.join(state, "credentials", "token.json"), "{\"secret\":1}");
    const url = `file://${path.join(repoDir, "r")}`;
    const settings = parseSettings({ repository: url, passphrase: PASSPHRASE, ...extra }, {});
    const logger = memoryLogger();
    const store = new StatusStore(state);
    // The engine child's index cache goes under this HOME, not the user's.
    const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, ".cache") };
    const backups = new Backups({ settings, stateDir: state, store, logger, env });
    return { state, url, backups, store, logger };
  }

  it("a hold (the auto-restore deciding) starts no backup; triggers meanwhile make one backup after it", async () => {
    const { url, backups } = await setup();
    let release!: () => void;
    backups.holdUntil(new Promise<void>((r) => (release = r)));
    const a = backups.trigger("schedule");
    const b = backups.trigger("schedule");
    expect(b).toBe(a);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(backups.running).toBe(false);
    expect(await snapshotsOf(url, PASSPHRASE).catch(() => [])).toEqual([]);
    release();
    expect((await a).ok).toBe(true);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["schedule"]);
    expect(backups.isHeld).toBe(false);

    // Holds add up: a short one (a restore) ending inside a long one (the auto-restore) opens nothing.
    let releaseLong!: () => void;
    let releaseShort!: () => void;
    backups.holdUntil(new Promise<void>((r) => (releaseLong = r)));
    backups.holdUntil(new Promise<void>((r) => (releaseShort = r)));
    const c = backups.trigger("manual");
    releaseShort();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(backups.running).toBe(false);
    releaseLong();
    expect((await c).ok).toBe(true);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["schedule", "manual"]);
  });

  it("coalesces triggers during a backup into one follow-up and leaves regenerable folders and credentials out", async () => {
    const { state, url, backups, store } = await setup();
    const first = backups.trigger("schedule");
    const second = backups.trigger("pre-compaction");
    const third = backups.trigger("manual");
    expect(third).toBe(second);
    const outcomes = await Promise.all([first, second, third]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const snaps = await snapshotsOf(url, PASSPHRASE);
    expect(snaps.map((s) => s.reason)).toEqual(["schedule", "pre-compaction"]);
    const status = await store.read();
    expect(status.lastBackup?.reason).toBe("pre-compaction");
    expect(status.lastBackup?.snapshot).toBe(snaps[1]!.id);

    const repo = await Repository.open(url, { passphrase: PASSPHRASE, cacheDir: await scratch.dir("cache") });
    const paths = (await repo.ls(snaps[1]!.id)).map((e) => e.path);
    await repo.close();
    expect(paths).toContain("workspace/MEMORY.md");
    for (const gone of ["cache/x.bin", "tmp/x.bin", "logs/x.bin", "extensions/x.bin", "credentials/token.json", "clawback/status.json"]) expect(paths).not.toContain(gone);
    void state;
  });

  it("a killed engine child fails that backup, is recorded, and the next trigger works", async () => {
    const { state, url, backups, store, logger } = await setup();
    const rand = prng(3);
    await fs.mkdir(path.join(state, "workspace", "big"), { recursive: true });
    for (let i = 0; i < 8; i++) await fs.writeFile(path.join(state, "workspace", "big", `${i}.bin`), randomBytesFrom(rand, 8 * 1024 * 1024));
    const running = backups.trigger("manual");
    // Kill the child once it has started.
    let pid: number | undefined;
    for (let i = 0; i < 400 && !pid; i++) {
      const m = logger.lines.map((l) => /engine process (\d+)/.exec(l)).find(Boolean);
      if (m) pid = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(pid).toBeDefined();
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid!, "SIGKILL");
    const failed = await running;
    expect(failed).toMatchObject({ ok: false, error: expect.stringContaining("killed by SIGKILL") });
    expect((await store.read()).lastError?.message).toContain("killed by SIGKILL");
    expect(logger.lines.some((l) => /backup \(manual\) failed: .*SIGKILL/.test(l))).toBe(true);

    const next = await backups.trigger("schedule");
    expect(next.ok).toBe(true);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["schedule"]);
  });

  it("stop abandons the running backup without listing a snapshot, and starts none of those queued or asked later", async () => {
    const { state, url, backups } = await setup();
    const rand = prng(4);
    await fs.mkdir(path.join(state, "workspace", "big"), { recursive: true });
    for (let i = 0; i < 8; i++) await fs.writeFile(path.join(state, "workspace", "big", `${i}.bin`), randomBytesFrom(rand, 8 * 1024 * 1024));
    const running = backups.trigger("schedule");
    // A shutdown arriving during a scheduled backup queues behind it (seen in a gateway: after the
    // budget's stop, the queued one started and the gateway took 18 s to exit).
    const queued = backups.trigger("shutdown");
    await new Promise((r) => setTimeout(r, 800));
    await backups.stop();
    expect((await running).ok).toBe(false);
    expect(await queued).toEqual({ ok: false, error: "not started: the gateway is stopping", reason: "shutdown" });
    expect(backups.running).toBe(false);
    expect((await backups.trigger("manual")).ok).toBe(false);
    expect(await snapshotsOf(url, PASSPHRASE).catch(() => [])).toEqual([]);
  });

  it("applies retention after each backup", async () => {
    const { state, url, backups, store } = await setup({ retention: { keepLast: 2 } });
    for (let i = 0; i < 4; i++) {
      await fs.writeFile(path.join(state, "workspace", "MEMORY.md"), `version ${i}\n`);
      expect((await backups.trigger("manual")).ok).toBe(true);
    }
    expect((await snapshotsOf(url, PASSPHRASE)).length).toBe(2);
    expect((await store.read()).lastRetention?.forgotten).toBe(1);
  });
});
