// The pre-compaction trigger outside a gateway (ClawbackPlugin with a real engine child and a
// file:// repository): compactions that start together (two sessions) make one snapshot, and the
// ones within five minutes after it none. In the gateway the hook is driven by a real
// `openclaw sessions compact` (backup-triggers.test.ts).
import { describe, expect, it } from "vitest";
import { StatusStore } from "../../src/openclaw/status-store.ts";
import { useScratch } from "../helpers/scratch.ts";
import { snapshotsOf } from "./helpers/repo.ts";
import { standalonePlugin } from "./helpers/standalone-plugin.ts";

const PASSPHRASE = "pre-compaction-test";

describe("pre-compaction backups", () => {
  const scratch = useScratch();

  it("compactions that start together make one pre-compaction snapshot; one within 5 minutes after it none", async () => {
    const { plugin, state, url, lines } = await standalonePlugin(scratch, PASSPHRASE, "before compaction\n");

    await Promise.all([plugin.onBeforeCompaction(), plugin.onBeforeCompaction()]);
    const deadline = Date.now() + 60_000;
    while ((plugin.backupRunning || !(await snapshotsOf(url, PASSPHRASE).catch(() => [])).length) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(plugin.backupRunning).toBe(false);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["pre-compaction"]);
    expect(lines.filter((l) => /compaction within 5 minutes/.test(l))).toHaveLength(1);
    expect((await new StatusStore(state).read()).lastPreCompactionMs).toBeGreaterThan(0);

    await plugin.onBeforeCompaction();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(plugin.backupRunning).toBe(false);
    expect((await snapshotsOf(url, PASSPHRASE)).map((s) => s.reason)).toEqual(["pre-compaction"]);
    expect(lines.filter((l) => /compaction within 5 minutes/.test(l))).toHaveLength(2);
  });
});
