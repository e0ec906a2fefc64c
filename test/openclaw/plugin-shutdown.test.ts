// The shutdown backup while backups are held (the gateway deciding whether a fresh state is
// restored from the bucket, which it does after every start): it waits for the decision within the
// stop hook's budget, and makes no backup when the decision does not come in time.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useScratch } from "../helpers/scratch.ts";
import { snapshotsOf } from "./helpers/repo.ts";
import { standalonePlugin } from "./helpers/standalone-plugin.ts";

const PASSPHRASE = "plugin-shutdown-test";

describe("the shutdown backup beside the auto-restore's decision", () => {
  const scratch = useScratch();

  it("a stop during the decision backs up once the decision comes", async () => {
    const { state, url, lines, plugin: p } = await standalonePlugin(scratch, PASSPHRASE, "before shutdown\n");
    // A first backup starts the engine child, so that the shutdown backup's time is its commit's
    // and not a cold start's (the 4 s budget is the test's subject only as a bound).
    expect((await p.backup("manual")).ok).toBe(true);
    await fs.writeFile(path.join(state, "workspace", "MEMORY.md"), "changed before shutdown\n");
    let decide!: () => void;
    p.start(state, new Promise<void>((resolve) => (decide = resolve)));
    const stopping = p.onGatewayStop("gateway stopping");
    setTimeout(() => decide(), 300);
    await stopping;
    expect(lines.join("\n")).toMatch(/stop hook done in \d+ ms \(shutdown backup made\)/);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["manual", "shutdown"]);
  }, 30_000);

  it("a decision that does not come within the budget: no backup, said so, and none starts after", async () => {
    const { state, url, lines, plugin: p } = await standalonePlugin(scratch, PASSPHRASE, "before shutdown\n");
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
