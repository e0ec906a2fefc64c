// The shutdown backup while backups are held (the gateway deciding whether a fresh state is
// restored from the bucket, which it does after every start): it waits for the decision within the
// stop hook's budget, and makes no backup when the decision does not come in time.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ClawbackPlugin } from "../../src/openclaw/plugin.ts";
import { useScratch } from "../helpers/scratch.ts";
import { snapshotsOf } from "./helpers/repo.ts";

const PASSPHRASE = "plugin-shutdown-test";

describe("the shutdown backup beside the auto-restore's decision", () => {
  const scratch = useScratch();

  async function plugin() {
    const state = await scratch.dir("state");
    const home = await scratch.dir("home");
    await fs.mkdir(path.join(state, "workspace"), { recursive: true });
    await fs.writeFile(path.join(state, "workspace", "MEMORY.md"), "before shutdown\n");
    const url = `file://${path.join(await scratch.dir("repo"), "r")}`;
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, ".cache") };
    return { state, url, lines, plugin: new ClawbackPlugin({ repository: url, passphrase: PASSPHRASE, schedule: "off" }, state, logger, env) };
  }

  it("a stop during the decision backs up once the decision comes", async () => {
    const { state, url, lines, plugin: p } = await plugin();
    let decide!: () => void;
    p.start(state, new Promise<void>((resolve) => (decide = resolve)));
    const stopping = p.onGatewayStop("gateway stopping");
    setTimeout(() => decide(), 300);
    await stopping;
    expect(lines.join("\n")).toMatch(/stop hook done in \d+ ms \(shutdown backup made\)/);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["shutdown"]);
  }, 30_000);

  it("a decision that does not come within the budget: no backup, said so, and none starts after", async () => {
    const { state, url, lines, plugin: p } = await plugin();
    let decide!: () => void;
    p.start(state, new Promise<void>((resolve) => (decide = resolve)));
    const started = Date.now();
    await p.onGatewayStop("gateway stopping");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines.join("\n")).toMatch(/no shutdown backup: the gateway stopped before deciding whether to restore/);
    decide();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(p.backupRunning).toBe(false);
    expect(await snapshotsOf(url, PASSPHRASE).catch(() => [])).toEqual([]);
  }, 30_000);
});
