// A restore that writes databases waits for the turns running in a real gateway (openclaw 2026.9.6,
// file:// repository), counted from OpenClaw's agent lifecycle events, which need no permission:
// this gateway does not grant the plugin conversation access, and no "blocked" warning is logged.
// One gateway: a backup from chat; a slow turn in another session (the mock model answers it only
// when the test says so); a whole restore asked from chat in the main session is answered at once,
// then waits, after the asking turn, for the slow turn; once that one ends the restore runs and the
// gateway restarts.
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chat, chatEndpointConfig, ToolTurns } from "../helpers/chat.ts";
import { createGateway, mockModelConfig, type Gateway } from "../helpers/gateway.ts";
import { startMockModel, type ChatRequest, type MockModel } from "../helpers/mock-model.ts";
import { clawbackLines, pluginConfigOps } from "../helpers/plugin.ts";
import { snapshotsOf } from "../helpers/repo.ts";

const PASSPHRASE = "turn-counting-test-passphrase";
const SLOW = "slow-turn-3e9";

describe("a restore waits for running turns in a real gateway", () => {
  let model: MockModel;
  let gw: Gateway;
  let url: string;
  /** What the mock model does in the current main-session turn: plain text, or one b2_rollback call. */
  const toolTurns = new ToolTurns();
  let releaseSlow!: () => void;
  const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));

  beforeAll(async () => {
    model = await startMockModel();
    model.script((req: ChatRequest) => {
      if (req.userText.includes(SLOW)) return { text: "slow answer", after: slowReleased };
      return toolTurns.reply(req);
    });
    gw = await createGateway("turns");
    url = `file://${path.join(gw.root, "repo")}`;
    await gw.configure([
      ...mockModelConfig(model.baseUrl),
      ...(await pluginConfigOps({ repository: url, passphrase: PASSPHRASE, schedule: "off" })),
      chatEndpointConfig,
    ]);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    releaseSlow?.();
    await gw?.remove();
    await model?.stop();
  });

  const turn = (message: string, tool?: Record<string, unknown>) => toolTurns.turn(gw, message, tool);

  const lines = async (re: RegExp) => (await clawbackLines(gw)).filter((l) => re.test(l));

  it("the restore runs only after the slow turn in another session ended", async () => {
    await turn("back up now", { action: "backup" });
    const snaps = await snapshotsOf(url, PASSPHRASE);
    expect(snaps.map((s) => s.reason)).toEqual(["manual"]);

    const seen = model.requests.length;
    const slow = chat(gw, `a long question ${SLOW}`, "agent:main:slow");
    slow.catch(() => undefined);
    while (!model.requests.slice(seen).some((r) => r.userText.includes(SLOW))) await new Promise((r) => setTimeout(r, 200));

    const asked = await turn("roll back to that backup", { action: "restore", snapshot: snaps[0]!.id.slice(0, 10) });
    expect(asked).toMatch(/as soon as this reply is finished/);
    // The asking turn is over, the slow one is not: counted from its lifecycle "start".
    await gw.waitForLog(/clawback: restore of [0-9a-f]{12} waits for 1 running turn\(s\) to end/, 120_000);
    // Longer than the 60 s fallback that ran the restore when turns were not seen.
    await new Promise((r) => setTimeout(r, 75_000));
    expect(await lines(/clawback: restoring the whole state/)).toEqual([]);

    releaseSlow();
    expect(await slow).toContain("slow answer");
    await gw.waitForLog(/clawback: restoring the whole state from snapshot [0-9a-f]{12}/, 240_000);
    await gw.waitForLog(/clawback: restarting the gateway/, 240_000);

    // Counting needs no conversation access, and the plugin asks for no hook it would be refused.
    expect((await gw.log()).match(/typed hook "[a-z_]+" blocked[^\n]*plugin=clawback/)).toBeNull();
  }, 900_000);
});
