// The restore side inside real gateways (openclaw 2026.9.6, file:// repository: the backend is not
// the point here). One gateway, scenarios in order:
//   - turns and a backup, more turns; the mock model calls b2_rollback list, then restore of
//     workspace/MEMORY.md (takes effect at once, no restart), then restore of the older snapshot:
//     the asking turn completes, the gateway restarts by itself, the next turn's history is the
//     older one (read back through OpenClaw: what the gateway sends the model), a safety snapshot
//     exists, status says how it went, and a state with its own sessions is not auto-restored.
// Then a second gateway on a fresh state folder with the same plugin config comes up restored:
// its next turn sees the first machine's history, and a new turn survives a restart.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, mockModelConfig, type Gateway } from "../helpers/gateway.ts";
import { startMockModel, type ChatRequest, type MockModel } from "../helpers/mock-model.ts";
import { clawbackLines, pluginConfigOps } from "../helpers/plugin.ts";
import { snapshotsOf } from "../helpers/repo.ts";
import { chat, ToolTurns, waitRestarted } from "../helpers/chat.ts";

const PASSPHRASE = "restore-gateway-test-passphrase";

/** Mock model, the plugin (linked, one `config set` in all) and the gateway's chat endpoint. */
async function gatewayConfig(model: MockModel, url: string) {
  return [
    ...mockModelConfig(model.baseUrl),
    ...(await pluginConfigOps({ repository: url, passphrase: PASSPHRASE, schedule: "off" })),
    // Lets the plugin hold new turns off while a restore applies (before_agent_run, a conversation
    // hook OpenClaw drops for non-bundled plugins otherwise); counting turns needs no permission.
    { path: "plugins.entries.clawback.hooks", value: { allowConversationAccess: true } },
    { path: "gateway.http.endpoints.chatCompletions", value: { enabled: true } },
  ];
}

describe("restore in a real gateway", () => {
  let model: MockModel;
  let gw: Gateway;
  let url: string;
  /** What the mock model does in the current turn: plain text, or one b2_rollback call. */
  const toolTurns = new ToolTurns();

  beforeAll(async () => {
    model = await startMockModel();
    model.script((req: ChatRequest) => {
      // A turn in the "slow" session: the model takes its time, so the turn stays running.
      if (req.userText.includes("slow-turn-6b1")) return { text: "slow answer", delayMs: 120_000 };
      return toolTurns.reply(req);
    });
    gw = await createGateway("restore");
    url = `file://${path.join(gw.root, "repo")}`;
    await gw.configure(await gatewayConfig(model, url));
    await gw.start();
  }, 600_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  const turn = (message: string, tool?: Record<string, unknown>, on: Gateway = gw) => toolTurns.turn(on, message, tool);

  const lastRequest = () => model.requests[model.requests.length - 1]!;

  let older: string;

  it("chat: list, a one-file restore at once, then a whole restore after the turn, with a safety snapshot", async () => {
    await turn("first message alpha-7d1");
    const memory = path.join(gw.stateDir, "workspace", "MEMORY.md");
    await fs.writeFile(memory, "# memory\nversion one\n");
    // A secret file of this machine's: it never reaches the bucket, so a new machine never gets it.
    await fs.mkdir(path.join(gw.stateDir, "credentials"), { recursive: true });
    await fs.writeFile(path.join(gw.stateDir, "credentials", "first-machine.json"), '{"token":"first-machine-secret"}');
    await turn("back up now", { action: "backup" });
    const made = await snapshotsOf(url, PASSPHRASE);
    expect(made.map((s) => s.reason)).toEqual(["manual"]);
    older = made[0]!.id;

    await turn("second message beta-4c2");
    await fs.writeFile(memory, "# memory\nversion two\n");

    const listed = await turn("what backups are there?", { action: "list" });
    expect(listed).toContain(older.slice(0, 8));

    const pid = gw.pid;
    await turn("bring back the old MEMORY.md", { action: "restore", snapshot: older.slice(0, 10), path: "workspace/MEMORY.md" });
    expect(await fs.readFile(memory, "utf8")).toBe("# memory\nversion one\n");
    expect(lastRequest().toolResults.at(-1)).toMatch(/Restored workspace\/MEMORY.md from snapshot/);
    expect(gw.pid).toBe(pid);
    expect((await clawbackLines(gw)).join("\n")).not.toMatch(/restarting the gateway/);

    const asked = await turn("roll back to the first backup", { action: "restore", snapshot: older.slice(0, 10) });
    expect(lastRequest().toolResults.at(-1)).toMatch(/as soon as this reply is finished/);
    expect(asked).toMatch(/clawback says/);
    await gw.waitForLog(/clawback: restarting the gateway/, 240_000);
    await waitRestarted(gw);

    // Read back through OpenClaw: the next turn's history is the older one.
    await turn("after the rollback gamma-9e3");
    const history = lastRequest().userText;
    expect(history).toContain("alpha-7d1");
    expect(history).not.toContain("beta-4c2");
    expect(history).toContain("gamma-9e3");

    const snaps = await snapshotsOf(url, PASSPHRASE);
    const safety = snaps.filter((s) => s.reason === "safety");
    expect(safety.length).toBeGreaterThanOrEqual(2); // one per restore
    expect(safety.at(-1)!.tags).toContain(`before-restore:${older.slice(0, 12)}`);

    await turn("how did it go?", { action: "status" });
    expect(lastRequest().toolResults.at(-1)).toMatch(/Last restore .*Restored the whole state from snapshot .*The gateway restarted/);
    // After the restart the state has sessions of its own: no auto-restore.
    expect((await clawbackLines(gw)).join("\n")).toMatch(/auto-restore: not restoring, this state has agent state of its own/);
  }, 900_000);

  // Turns are counted from agent lifecycle events (the turn hooks never reached the plugin here:
  // docs/openclaw.md, "Hooks and events"); turn-counting.test.ts checks the same without
  // conversation access.
  it("a restore asked while another turn runs waits for it; 'undo' brings back the state before the restore", async () => {
    const seen = model.requests.length;
    const slow = chat(gw, "a long question slow-turn-6b1", "agent:main:slow").then((text) => ({ text, at: Date.now() }));
    while (!model.requests.slice(seen).some((r) => r.userText.includes("slow-turn-6b1"))) await new Promise((r) => setTimeout(r, 200));

    const count = async (re: RegExp) => (await clawbackLines(gw)).filter((l) => re.test(l)).length;
    const restarts = await count(/clawback: restarting the gateway/);
    await turn("undo the rollback", { action: "restore", snapshot: "undo" });
    expect(lastRequest().toolResults.at(-1)).toMatch(/as soon as this reply is finished/);
    // The asking turn is over, the slow one is not: the restore waits for it.
    await gw.waitForLog(/clawback: restore of [0-9a-f]{12} waits for 1 running turn\(s\) to end/, 60_000);
    let slowEnded = 0;
    const slowDone = await slow.then((r) => ((slowEnded = r.at), r));
    expect(slowDone.text).toContain("slow answer");
    expect(await count(/clawback: restoring the whole state from snapshot [0-9a-f]{12} \(the safety snapshot/)).toBe(0);
    // Only now, after the slow turn ended, the restore runs and the gateway restarts.
    const deadline = Date.now() + 240_000;
    while ((await count(/clawback: restarting the gateway/)) === restarts && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(await count(/clawback: restarting the gateway/)).toBeGreaterThan(restarts);
    expect(slowEnded).toBeGreaterThan(0);
    await waitRestarted(gw);

    // The state the whole restore replaced: the second message is back, the turns since are gone.
    await turn("after the undo zeta-1c7");
    const history = lastRequest().userText;
    expect(history).toContain("beta-4c2");
    expect(history).not.toContain("gamma-9e3");
  }, 900_000);

  it("a new machine with the same plugin config comes up with the restored history and keeps working", async () => {
    const fresh = await createGateway("restore-fresh");
    try {
      // The new machine's own secrets: a provider key of its own and a credentials file.
      await fresh.configure([...(await gatewayConfig(model, url)), { path: "models.providers.mock.apiKey", value: "new-machine-api-key" }]);
      await fs.mkdir(path.join(fresh.stateDir, "credentials"), { recursive: true });
      await fs.writeFile(path.join(fresh.stateDir, "credentials", "new-machine.json"), '{"token":"new-machine-secret"}');
      await fresh.start();
      await fresh.waitForLog(/clawback: auto-restore: the state is fresh/, 120_000);
      await fresh.waitForLog(/clawback: restarting the gateway/, 180_000);
      await waitRestarted(fresh);

      const sessions = await fresh.cli(["sessions", "--json"]);
      expect(sessions.code, sessions.stderr).toBe(0);
      expect(sessions.stdout).toContain("agent:main:main");

      await turn("on the new machine delta-2f8", undefined, fresh);
      expect(lastRequest().userText).toContain("alpha-7d1");

      // The new turn is written and survives a restart.
      const stopped = await fresh.stop();
      expect(stopped.code).toBe(0);
      await fresh.start();
      await turn("after restart epsilon-5a0", undefined, fresh);
      expect(lastRequest().userText).toContain("delta-2f8");
      // Its own secrets, none of the first machine's.
      const config = JSON.parse(await fs.readFile(path.join(fresh.stateDir, "openclaw.json"), "utf8")) as { models: { providers: { mock: { apiKey: string } } } };
      expect(config.models.providers.mock.apiKey).toBe("new-machine-api-key");
      const credentials = await fs.readdir(path.join(fresh.stateDir, "credentials"));
      expect(credentials).toContain("new-machine.json");
      expect(credentials).not.toContain("first-machine.json");
      // Never twice: the restarted gateway does not restore again.
      expect((await clawbackLines(fresh)).filter((l) => /restoring the latest snapshot/.test(l))).toHaveLength(1);
    } finally {
      await fresh.remove();
    }
  }, 900_000);
});
