import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { detectFreshState, loadWorkspaceTemplates } from "../../../src/openclaw/restore/fresh-state.ts";
import { useScratch } from "../../helpers/scratch.ts";

const OPENCLAW_PACKAGE = fileURLToPath(new URL("../../../node_modules/openclaw", import.meta.url));

/** A state folder as a fresh OpenClaw 2026.9.6 leaves it after its first turn's seeding. */
async function freshState(root: string): Promise<string> {
  const state = path.join(root, "state");
  const templates = await loadWorkspaceTemplates(OPENCLAW_PACKAGE);
  await fs.mkdir(path.join(state, "state"), { recursive: true });
  await fs.mkdir(path.join(state, "agents/main/agent"), { recursive: true });
  await fs.mkdir(path.join(state, "workspace/.git"), { recursive: true });
  await fs.writeFile(path.join(state, "openclaw.json"), JSON.stringify({ plugins: { entries: { clawback: { config: { keyId: "k", applicationKey: "a", bucket: "b" } } } } }));
  const global = new DatabaseSync(path.join(state, "state/openclaw.sqlite"));
  global.exec("CREATE TABLE workspace_generated_bootstrap_hashes (workspace_key TEXT, filename TEXT, sha256 TEXT)");
  global.exec("CREATE TABLE cron_jobs (id TEXT); INSERT INTO cron_jobs VALUES ('memory-dreaming')");
  for (const name of ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md", "BOOTSTRAP.md"]) {
    const text = templates.get(name)!;
    await fs.writeFile(path.join(state, "workspace", name), text);
    if (name !== "BOOTSTRAP.md") global.prepare("INSERT INTO workspace_generated_bootstrap_hashes VALUES ('w', ?, ?)").run(name, createHash("sha256").update(text).digest("hex"));
  }
  global.close();
  const agent = new DatabaseSync(path.join(state, "agents/main/agent/openclaw-agent.sqlite"));
  agent.exec("PRAGMA journal_mode = WAL; CREATE TABLE session_nodes (session_key TEXT); CREATE TABLE transcript_events (id INTEGER)");
  agent.close();
  await fs.writeFile(path.join(state, "workspace/.git/HEAD"), "ref: refs/heads/main\n");
  return state;
}

describe("detectFreshState", () => {
  const scratch = useScratch();

  it("a fresh install (databases with their own rows, seeded workspace, the plugin's config) is fresh", async () => {
    const state = await freshState(await scratch.dir("fresh"));
    const templates = await loadWorkspaceTemplates(OPENCLAW_PACKAGE);
    expect(templates.size).toBeGreaterThanOrEqual(7);
    expect(await detectFreshState(state, { templates })).toMatchObject({ fresh: true });
    // Without the templates, the seeded hashes alone tell (BOOTSTRAP.md is never the user's).
    expect(await detectFreshState(state)).toMatchObject({ fresh: true });
    // A state folder with nothing in it at all.
    expect(await detectFreshState(await scratch.dir("empty"))).toMatchObject({ fresh: true });
  });

  it("session rows, a transcript file, memory, or an edited bootstrap file are the user's own", async () => {
    const cases: [string, (state: string) => Promise<void>, RegExp][] = [
      ["session row", async (s) => {
        const db = new DatabaseSync(path.join(s, "agents/main/agent/openclaw-agent.sqlite"));
        db.exec("INSERT INTO session_nodes VALUES ('agent:main:main')");
        db.close();
      }, /agent main has 1 row\(s\) in session_nodes/],
      ["legacy transcript", async (s) => {
        await fs.mkdir(path.join(s, "agents/work/sessions"), { recursive: true });
        await fs.writeFile(path.join(s, "agents/work/sessions/abc.jsonl"), "{}\n");
      }, /agent work has 1 JSONL transcript/],
      ["MEMORY.md", (s) => fs.writeFile(path.join(s, "workspace/MEMORY.md"), "remember"), /workspace\/MEMORY.md/],
      ["memory folder", (s) => fs.mkdir(path.join(s, "workspace/memory")), /workspace\/memory\//],
      ["edited SOUL.md", (s) => fs.appendFile(path.join(s, "workspace/SOUL.md"), "\nBe brief."), /workspace\/SOUL.md/],
      ["second agent's workspace", async (s) => {
        await fs.mkdir(path.join(s, "workspace-work"));
        await fs.writeFile(path.join(s, "workspace-work/notes.txt"), "x");
      }, /workspace-work\/notes.txt/],
    ];
    for (const [label, change, reason] of cases) {
      const state = await freshState(await scratch.dir("own"));
      await change(state);
      const verdict = await detectFreshState(state, { templates: await loadWorkspaceTemplates(OPENCLAW_PACKAGE) });
      expect(verdict.fresh, label).toBe(false);
      expect(verdict.reason, label).toMatch(reason);
    }
  });
});
