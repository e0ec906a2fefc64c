// The plugin on the project's real S3 server behind its B2 authorize emulator, configured with the
// three fields only (the application key is also the passphrase). Failures in order, one gateway:
// the engine child killed mid-backup (the gateway keeps running, status reports it, the next
// trigger works); a shutdown push cut off by its budget (exit 0 in time, no half-listed snapshot)
// and the next start's backup uploading under 10 % of what the cut-off one sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, toolCall, type MockModel } from "./helpers/mock-model.ts";
import { pluginConfigOps } from "./helpers/plugin.ts";
import { snapshotsOf } from "./helpers/repo.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator } from "../helpers/b2-emulator.ts";
import { openBackend } from "../../src/storage/open.ts";
import { prng, randomBytesFrom } from "../helpers/tree.ts";

async function writeRandom(dir: string, seed: number, files: number, size: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const rand = prng(seed);
  for (let i = 0; i < files; i++) await fs.writeFile(path.join(dir, `blob-${seed}-${i}.bin`), randomBytesFrom(rand, size));
}

describe("engine failures in a real gateway (B2 emulator in front of the S3 server)", () => {
  let s3: S3Server;
  let b2: B2Emulator;
  let model: MockModel;
  let gw: Gateway;
  let backupTurn = 0;

  const key = () => b2.keys.scoped;
  const url = () => b2.url("openclaw");
  const env = () => b2.env(key());
  const snapshots = () => snapshotsOf(url(), key().applicationKey, env());
  async function packBytes(): Promise<number> {
    const backend = await openBackend(url(), { env: env() });
    let n = 0;
    for await (const o of backend.list("data/")) n += o.size;
    await backend.close();
    return n;
  }

  beforeAll(async () => {
    s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
    b2 = await startB2Emulator({ s3ApiUrl: s3.endpoint, bucket: s3.bucket });
    model = await startMockModel();
    model.script((req) => {
      if (!req.userText.includes("take-a-backup")) return { text: "ok" };
      if (!req.afterToolResult) return toolCall(req, "b2_rollback", { action: "backup" });
      return { text: `backup answer: ${req.toolResults[req.toolResults.length - 1]}` };
    });
    gw = await createGateway("faults");
    gw.env.CLAWBACK_B2_AUTH_URL = b2.authUrl;
    await gw.configure([...mockModelConfig(model.baseUrl), ...(await pluginConfigOps({ keyId: key().keyId, applicationKey: key().applicationKey, bucket: b2.bucket, schedule: "off" }))]);
    await writeRandom(path.join(gw.stateDir, "workspace", "big1"), 1, 12, 8 * 1024 * 1024);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
    await b2?.stop();
    await s3?.stop();
  });

  async function backupTurnOnce(): Promise<{ code: number | null; stdout: string }> {
    backupTurn++;
    return gw.cli(["agent", "--agent", "main", "--message", `take-a-backup ${backupTurn}`, "--json"], { timeoutMs: 240_000 });
  }

  it("says once how to add a recovery passphrase, since the application key is the passphrase", async () => {
    await gw.waitForLog(/clawback key add/, 60_000);
    // The log file (stdout repeats each line).
    const log = await fs.readFile(gw.logFile, "utf8");
    expect(log.match(/add a recovery passphrase/g)?.length).toBe(1);
    expect(log).not.toContain(key().applicationKey);
  });

  it("a killed engine child fails that backup only: the gateway runs on, status says so, the next trigger works", async () => {
    const before = await gw.log();
    const turn = backupTurnOnce();
    // The engine child's pid is in the log; kill it once it has had time to start uploading.
    const started = await gw.waitForLog(/backup \(manual\) started in engine process (\d+)/, 240_000);
    const pid = Number(/(\d+)$/.exec(started)![1]);
    expect((await gw.log()).length).toBeGreaterThan(before.length);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(pid, "SIGKILL");
    const answer = await turn;
    expect(answer.code).toBe(0);
    expect(model.requests.some((r) => r.toolResults.length > 0), `tools offered: ${model.requests.at(-1)?.tools.map((t) => t.function.name).join(", ")}`).toBe(true);
    expect(answer.stdout).toMatch(/The backup failed: the backup engine process was killed by SIGKILL/);
    expect(gw.running()).toBe(true);
    expect(await snapshots()).toEqual([]);

    const status = await gw.cli(["clawback", "status"]);
    expect(status.stdout).toMatch(/Last error .*backup \(manual\).*killed by SIGKILL/);

    const next = await backupTurnOnce();
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/Snapshot [0-9a-f]{12} taken/);
    expect((await snapshots()).map((s) => s.reason)).toEqual(["manual"]);
  }, 400_000);

  it("a shutdown push cut off by its budget exits 0 in time, lists no snapshot, and the next backup reuses what it sent", async () => {
    const listed = await snapshots();
    const packsBefore = await packBytes();
    // A large new change: more than the 4 s budget can upload here.
    await writeRandom(path.join(gw.stateDir, "workspace", "big2"), 2, 24, 8 * 1024 * 1024);
    const stopped = await gw.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(10_000);
    expect(await gw.log()).toMatch(/shutdown backup did not finish within 4 s/);
    expect((await snapshots()).map((s) => s.id)).toEqual(listed.map((s) => s.id));
    const sentByCutOff = (await packBytes()) - packsBefore;
    expect(sentByCutOff).toBeGreaterThan(0);

    await gw.start();
    const push = await gw.cli(["clawback", "push", "--json"], { timeoutMs: 240_000 });
    expect(push.code, push.stderr).toBe(0);
    const result = JSON.parse(push.stdout) as { ok: boolean; snapshot: { reason: string; stats: { addedBytes: number; bytes: number } } };
    expect(result.ok).toBe(true);
    expect(result.snapshot.reason).toBe("manual");
    expect(result.snapshot.stats.addedBytes).toBeLessThan(sentByCutOff * 0.1);
  }, 600_000);
});
