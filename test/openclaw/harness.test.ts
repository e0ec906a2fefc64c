// The gateway harness itself: a real gateway, with the plugin installed from the working tree the
// way a user of a checkout installs it (`openclaw plugins install -l`), comes up on its own port
// and state folder, loads the plugin, runs one agent turn against the mock model, and stops on
// SIGTERM with exit code 0.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { installPlugin } from "./helpers/plugin.ts";

describe("gateway harness", () => {
  let model: MockModel;
  let gw: Gateway;

  beforeAll(async () => {
    model = await startMockModel();
    model.script((req) => ({ text: req.userText.includes("ping-harness") ? "pong-harness" : "ok" }));
    gw = await createGateway("harness");
    await gw.configure(mockModelConfig(model.baseUrl));
    await installPlugin(gw, { repository: `file://${gw.root}/repo`, passphrase: "harness", schedule: "off" });
    await gw.start();
  }, 1_200_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  it("runs an agent turn against the mock model and stops on SIGTERM", async () => {
    const turn = await gw.cli(["agent", "--agent", "main", "--message", "ping-harness", "--json"]);
    expect(turn.code, turn.stderr).toBe(0);
    expect(turn.stdout).toContain("pong-harness");
    expect(model.requests.length).toBeGreaterThan(0);
    expect(await gw.log()).toMatch(/http server listening \([0-9]+ plugins: [^)]*clawback/);
    const stopped = await gw.stop();
    expect(stopped.code).toBe(0);
  }, 600_000);
});
