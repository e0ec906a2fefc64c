// Invalid settings in a real gateway: the gateway runs, the log has one clear line naming the
// setting, and both the tool's answer and `openclaw clawback status` carry the same message.
// One gateway: a missing field at start, then (hot reloads) a bad cron expression and an
// unreachable endpoint. Wrong types are refused by OpenClaw's own schema check before the plugin
// sees them (see the last test); parseSettings' own checks are in config.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, freePort, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, toolCall, type MockModel } from "./helpers/mock-model.ts";
import { clawbackLines, pluginConfigOps } from "./helpers/plugin.ts";

describe("invalid plugin config in a real gateway", () => {
  let model: MockModel;
  let gw: Gateway;
  let turn = 0;

  beforeAll(async () => {
    model = await startMockModel();
    model.script((req) => {
      if (!req.userText.includes("check-backups")) return { text: "ok" };
      if (!req.afterToolResult) return toolCall(req, "b2_rollback", { action: "status" });
      return { text: `status answer: ${req.toolResults[req.toolResults.length - 1]}` };
    });
    gw = await createGateway("config");
    // Where the "unreachable endpoint" scenario's s3:// repository points: a port nothing listens on.
    gw.env.CLAWBACK_S3_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    await gw.configure([...mockModelConfig(model.baseUrl), ...(await pluginConfigOps({ keyId: "0051a2b3c4d5e6f0000000001", applicationKey: "K005-not-a-real-key" }))]);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  async function toolAnswer(): Promise<string> {
    turn++;
    const r = await gw.cli(["agent", "--agent", "main", "--message", `check-backups ${turn}`, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  }

  it("a missing field: one log line, the gateway runs, the tool and status say the same", async () => {
    const lines = (await clawbackLines(gw)).filter((l) => l.includes("config bucket: is missing"));
    expect(lines.length).toBe(1);
    expect(gw.running()).toBe(true);
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain("clawback is not configured: config bucket: is missing");
    expect(await toolAnswer()).toContain("config bucket: is missing");
    expect(await gw.log()).not.toContain("K005-not-a-real-key");
  }, 400_000);

  it("a bad cron expression (hot reload): the same", async () => {
    const set = await gw.cli(["config", "set", "plugins.entries.clawback.config", JSON.stringify({ repository: "file:///tmp/clawback-never-used", passphrase: "pw", schedule: "every tuesday" }), "--strict-json"]);
    expect(set.code, set.stderr).toBe(0);
    await gw.waitForLog(/clawback: config schedule: "every tuesday" is not/, 120_000);
    expect(gw.running()).toBe(true);
    expect(await toolAnswer()).toContain('schedule: \\"every tuesday\\" is not');
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain('config schedule: "every tuesday" is not');
  }, 400_000);

  it("an unreachable endpoint (hot reload): one line when the repository cannot be opened, status and the tool carry it", async () => {
    const set = await gw.cli(["config", "set", "plugins.entries.clawback.config", JSON.stringify({ repository: "s3://nowhere/openclaw", keyId: "AK", applicationKey: "SK", schedule: "off" }), "--strict-json"]);
    expect(set.code, set.stderr).toBe(0);
    const line = await gw.waitForLog(/clawback: cannot open the repository s3:\/\/nowhere\/openclaw: [^"\\]+/, 180_000);
    expect(gw.running()).toBe(true);
    const answer = await toolAnswer();
    expect(answer).toContain("Last error");
    expect(answer).toContain("opening the repository");
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain("opening the repository");
    expect(line).not.toContain("SK");
  }, 400_000);

  it("a wrong type is refused by OpenClaw's schema check before it reaches the gateway", async () => {
    const set = await gw.cli(["config", "set", "plugins.entries.clawback.config.retention", JSON.stringify({ keepLast: "ten" }), "--strict-json"]);
    expect(set.code).not.toBe(0);
    expect(set.stderr + set.stdout).toMatch(/keepLast|retention/);
    expect(gw.running()).toBe(true);
  }, 200_000);
});
