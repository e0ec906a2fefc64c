// A restore keeps the settings of openclaw.json that belong to the machine: this plugin's entry and
// the logging block (seen in a real gateway: a new machine restored from another's snapshot wrote
// its log to the old machine's log path). The agent's settings come from the snapshot.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { restoreSecrets } from "../../../src/openclaw/secrets/restore-secrets.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("machine settings of openclaw.json on restore", () => {
  const scratch = useScratch();

  it("keeps this machine's logging and plugin entry, takes the rest from the snapshot", async () => {
    const root = await scratch.dir("machine-config");
    const current = path.join(root, "current");
    const restored = path.join(root, "restored");
    await fs.mkdir(current, { recursive: true });
    await fs.mkdir(restored, { recursive: true });
    const mine = {
      logging: { file: "/var/log/new-machine/openclaw.log", level: "debug" },
      agents: { defaults: { model: "mock/new" } },
      plugins: { entries: { clawback: { enabled: true, config: { bucket: "b", keyId: "k-new" } } } },
    };
    const snapshot = {
      logging: { file: "/home/old/openclaw.log" },
      agents: { defaults: { model: "mock/old" } },
      plugins: { entries: { clawback: { enabled: true, config: { bucket: "b", keyId: "k-old" } } } },
    };
    await fs.writeFile(path.join(current, "openclaw.json"), JSON.stringify(mine));
    await fs.writeFile(path.join(restored, "openclaw.json"), JSON.stringify(snapshot));
    const result = await restoreSecrets({ currentStateDir: current, restoredStateDir: restored });
    expect(result.configs).toEqual(["openclaw.json"]);
    const merged = JSON.parse(await fs.readFile(path.join(restored, "openclaw.json"), "utf8")) as typeof mine;
    expect(merged.logging).toEqual(mine.logging);
    expect(merged.plugins.entries.clawback).toEqual(mine.plugins.entries.clawback);
    expect(merged.agents.defaults.model).toBe("mock/old");
  });
});
