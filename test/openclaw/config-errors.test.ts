// Invalid settings in a real gateway: the gateway runs on, its log has one clear line naming the
// setting and the problem, and both the tool's answer (b2_rollback status, invoked through
// OpenClaw's POST /tools/invoke) and `openclaw clawback status` carry the same message.
// One gateway: a missing field at start, then hot reloads (`openclaw config set`) to a wrong type,
// a bad cron expression and an unreachable endpoint (last: it is the one that starts an engine
// child, and a reload while a plugin's call still runs can be refused).
// A wrong type reaches the plugin at all because the manifest's schema no longer constrains types
// (OpenClaw refuses a whole config that fails it: manifest-schema.test.ts, docs/openclaw.md).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, freePort, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { clawbackLines, pluginConfigOps } from "./helpers/plugin.ts";

const SECRET = "K005-not-a-real-key";

describe("invalid plugin config in a real gateway", () => {
  let model: MockModel;
  let gw: Gateway;

  beforeAll(async () => {
    model = await startMockModel();
    gw = await createGateway("config");
    // Where the "unreachable endpoint" scenario's s3:// repository points: a port nothing listens on.
    gw.env.CLAWBACK_S3_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    await gw.configure([...mockModelConfig(model.baseUrl), ...(await pluginConfigOps({ keyId: "0051a2b3c4d5e6f0000000001", applicationKey: SECRET }))]);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  /** The text of b2_rollback's `status` answer, run in the gateway by OpenClaw's tool endpoint. */
  async function toolStatus(): Promise<string> {
    const { status, body } = await gw.invokeTool("b2_rollback", { action: "status" });
    const content = (body as { result?: { content?: { text?: string }[] } }).result?.content;
    const text = Array.isArray(content) ? content.map((c) => c.text ?? "").join("\n") : JSON.stringify(body);
    expect(status, text).toBe(200);
    return text;
  }

  /** The tool's answer once it carries `expected` (a hot reload takes a moment to swap the plugin in). */
  async function toolStatusShowing(expected: string, timeoutMs = 120_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await toolStatus();
      if (text.includes(expected) || Date.now() > deadline) return text;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  async function reloadWith(config: Record<string, unknown>): Promise<void> {
    const set = await gw.cli(["config", "set", "plugins.entries.clawback.config", JSON.stringify(config), "--strict-json"]);
    expect(set.code, set.stderr + set.stdout).toBe(0);
  }

  /** The plugin's log entries (their message text, JSON unescaped) that contain `text`. */
  async function linesWith(text: string): Promise<string[]> {
    const messages: string[] = [];
    for (const line of await clawbackLines(gw)) {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        messages.push(["0", "1", "2"].map((k) => entry[k]).filter((v) => typeof v === "string").join(" "));
      } catch {
        messages.push(line);
      }
    }
    return messages.filter((m) => m.includes(`clawback: ${text}`));
  }

  it("a missing field: one log line, the gateway runs, the tool and status say the same", async () => {
    const message = "config bucket: is missing";
    expect(await linesWith(message)).toHaveLength(1);
    expect(gw.running()).toBe(true);
    expect(await toolStatus()).toContain(`clawback is not configured: ${message}`);
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain(`clawback is not configured: ${message}`);
    expect(await gw.log()).not.toContain(SECRET);
  }, 400_000);

  it("a wrong type (hot reload): accepted by OpenClaw, reported by the plugin the same way", async () => {
    await reloadWith({ repository: "file:///tmp/clawback-never-used", passphrase: "pw", retention: { keepLast: "ten" } });
    const message = 'config retention.keepLast: must be a whole number of 0 or more, got "ten"';
    await gw.waitForLog(/clawback: config retention\.keepLast: must be/, 180_000);
    expect(gw.running()).toBe(true);
    expect(await toolStatusShowing(message)).toContain(message);
    expect(await linesWith(message)).toHaveLength(1);
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain(message);
  }, 500_000);

  it("a bad cron expression (hot reload): the same", async () => {
    await reloadWith({ repository: "file:///tmp/clawback-never-used", passphrase: "pw", schedule: "every tuesday" });
    const message = 'config schedule: "every tuesday" is not "daily", "weekly", "off" or a valid cron expression';
    await gw.waitForLog(/clawback: config schedule: "every tuesday" is not/, 180_000);
    expect(gw.running()).toBe(true);
    expect(await toolStatusShowing(message)).toContain(message);
    expect(await linesWith(message)).toHaveLength(1);
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain(message);
  }, 500_000);

  it("an unreachable endpoint (hot reload): one line when the repository cannot be opened, status and the tool carry it", async () => {
    await reloadWith({ repository: "s3://nowhere/openclaw", keyId: "AK", applicationKey: "SK", schedule: "off" });
    const line = await gw.waitForLog(/clawback: cannot open the repository s3:\/\/nowhere\/openclaw: [^"\\]+/, 240_000);
    expect(await linesWith("cannot open the repository s3://nowhere/openclaw")).toHaveLength(1);
    // The reason is logged once (the auto-restore of this fresh state only says it did not restore).
    expect((await linesWith("")).filter((m) => m.includes("ECONNREFUSED"))).toHaveLength(1);
    expect(gw.running()).toBe(true);
    const answer = await toolStatusShowing("opening the repository");
    expect(answer).toContain("Last error");
    expect(answer).toContain("opening the repository");
    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toContain("opening the repository");
    expect(line).not.toContain("SK");
  }, 500_000);
});
