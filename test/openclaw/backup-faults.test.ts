// The plugin on the project's real S3 server behind its B2 authorize emulator, configured with the
// three fields only (the application key is also the passphrase) and a schedule every 20 s (no
// agent turns: on this loaded machine one takes minutes). Failures in order, one gateway: the
// engine child killed mid-backup (the gateway keeps running, status reports it, the next trigger
// works); a shutdown push cut off by its budget (exit 0 in time, no half-listed snapshot) and the
// next start's first backup uploading under 10 % of what the cut-off one sent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { pluginConfigOps } from "./helpers/plugin.ts";
import { snapshotsOf, waitForSnapshots } from "./helpers/repo.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator } from "../helpers/b2-emulator.ts";
import { openBackend } from "../../src/storage/open.ts";
import { prng, randomBytesFrom } from "../helpers/tree.ts";

/** Files of 8 MiB in the state before the first backup. */
const BIG1_FILES = 12;
/** Files of 8 MiB in the change the shutdown push cannot finish. */
const BIG2_FILES = 48;

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
    gw = await createGateway("faults");
    gw.env.CLAWBACK_B2_AUTH_URL = b2.authUrl;
    await gw.configure([...mockModelConfig(model.baseUrl), ...(await pluginConfigOps({ keyId: key().keyId, applicationKey: key().applicationKey, bucket: b2.bucket, schedule: "*/20 * * * * *" }))]);
    await writeRandom(path.join(gw.stateDir, "workspace", "big1"), 1, BIG1_FILES, 8 * 1024 * 1024);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
    await b2?.stop();
    await s3?.stop();
  });

  it("says once how to add a recovery passphrase, since the application key is the passphrase", async () => {
    await gw.waitForLog(/clawback key add/, 60_000);
    // The log file (stdout repeats each line).
    const log = await fs.readFile(gw.logFile, "utf8");
    // One line (each JSON line of the log file holds its text twice: argument and message).
    expect(log.split("\n").filter((l) => l.includes("add a recovery passphrase")).length).toBe(1);
    expect(log).not.toContain(key().applicationKey);
  });

  it("a killed engine child fails that backup only: the gateway runs on, status says so, the next trigger works", async () => {
    // The first scheduled backup uploads 96 MB: kill its child once it has had time to start.
    const started = await gw.waitForLog(/backup \(schedule\) started in engine process (\d+)/, 240_000);
    const pid = Number(/(\d+)$/.exec(started)![1]);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(pid, "SIGKILL");
    await gw.waitForLog(/clawback: backup \(schedule\) failed: the backup engine process was killed by SIGKILL/, 60_000);
    expect(gw.running()).toBe(true);

    const status = await gw.cli(["clawback", "status"]);
    // (A scheduled backup may have succeeded since: status still names the error, with its time.)
    expect(status.stdout).toMatch(/Last error\b.*backup \(schedule\).*killed by SIGKILL/);

    // The next trigger (the schedule again) works.
    const snaps = await waitForSnapshots(url(), key().applicationKey, (s) => s.length > 0, 300_000, env());
    // (The schedule runs every 20 s: by now it may have made more than one.)
    expect(snaps.length).toBeGreaterThan(0);
    expect(snaps.every((s) => s.reason === "schedule")).toBe(true);
    expect(gw.running()).toBe(true);
  }, 700_000);

  it("a shutdown push cut off by its budget exits 0 in time, lists no snapshot, and the next start's backup reuses what it sent", async () => {
    // What the push sends is counted as the packs' growth from here: big1 must be in the bucket
    // already, or a scheduled backup uploading its 96 MiB meanwhile counts as sent by the push
    // (it did when this test ran alone, without the one before).
    await waitForSnapshots(url(), key().applicationKey, (s) => s.some((x) => x.stats.bytes >= BIG1_FILES * 8 * 1024 * 1024), 600_000, env());
    const packsBefore = await packBytes();
    // A large new change: more than the 4 s budget can upload here (192 MiB once took 3.95 s on a
    // quiet machine: too close to the budget to be sure of a cut).
    await writeRandom(path.join(gw.stateDir, "workspace", "big2"), 2, BIG2_FILES, 8 * 1024 * 1024);
    const stopped = await gw.stop();
    expect(stopped.code).toBe(0);
    // The plugin's share: its stop hook returned within the 5 s a gateway_stop handler has (it
    // logs how long it took). The whole exit took 11 s once on this loaded machine (load 13 on 2
    // cores), 2.5 s of it OpenClaw's own shutdown after the plugin had returned.
    const cut = /shutdown backup did not finish within 4 s; stopped it after (\d+) ms in the stop hook/.exec(await gw.log());
    expect(cut).not.toBeNull();
    expect(Number(cut![1])).toBeLessThan(5_000);
    expect(stopped.ms).toBeLessThan(20_000);
    const afterStop = await snapshots();
    expect(afterStop.some((s) => s.reason === "shutdown")).toBe(false);
    // Every listed snapshot is whole (the cut-off commit left packs only).
    const sentByCutOff = (await packBytes()) - packsBefore;
    expect(sentByCutOff).toBeGreaterThan(0);

    await gw.start();
    const after = await waitForSnapshots(url(), key().applicationKey, (s) => s.length > afterStop.length, 400_000, env());
    const first = after[afterStop.length]!;
    // The change is random data (incompressible): stored, it takes at least its raw size. What
    // the cut-off push sent plus what the next backup added exceeds that only by what was sent
    // twice (and a few KiB of listings): under 10 % of what the cut-off one had sent. (Measured
    // once here: 134.5 MB sent before the cut, 67.1 MB added after, 0.3 MB over the change.)
    const resent = sentByCutOff + first.stats.addedBytes - BIG2_FILES * 8 * 1024 * 1024;
    // (The message says what was stored, should the bound fail: it once did, 17.3 MB over 67.1 MB.)
    expect(resent, `sent before the cut ${sentByCutOff} B; the next backup added ${first.stats.addedBytes} B in ${first.stats.addedChunks} chunks (${first.stats.filesRead} files read) for a change of ${BIG2_FILES * 8 * 1024 * 1024} B`).toBeLessThan(sentByCutOff * 0.1);
    // It holds big2 whole: the cut-off's packs were adopted, not lost.
    expect(first.stats.bytes).toBeGreaterThan(BIG2_FILES * 8 * 1024 * 1024);
  }, 900_000);
});
