// A whole restore asked for from chat whose download is cut off midway, inside a real gateway: the
// repository is on the project's S3 server behind its B2 authorize emulator, with the fault proxy
// between the emulator's S3 endpoint and the server. Once the restore has stored its safety
// snapshot and its first pack download has gone through, every later request is reset. The restore fails and says so, the state folder is
// exactly as it was (workspace files byte for byte; the session's history, read back through
// OpenClaw, still holds the turn the snapshot predates), and the gateway keeps answering turns.
// Then a restore asked for while a backup runs is refused with an answer that says so.
import * as crypto from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, mockModelConfig, type Gateway } from "../helpers/gateway.ts";
import { startMockModel, type ChatRequest, type MockModel } from "../helpers/mock-model.ts";
import { clawbackLines, pluginConfigOps } from "../helpers/plugin.ts";
import { ToolTurns } from "../helpers/chat.ts";
import { snapshotsOf } from "../helpers/repo.ts";
import { startS3Server, type S3Server } from "../../helpers/s3-server.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator } from "../../helpers/b2-emulator.ts";
import { startFaultProxy, type FaultProxy } from "../../helpers/fault-proxy.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";

const PASSPHRASE = "restore-faults-passphrase";

/** Relative path → sha256 of every file under `dir`. */
async function fileHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out[path.relative(dir, full)] = crypto.createHash("sha256").update(await fs.readFile(full)).digest("hex");
  }
  return out;
}

describe("a restore whose download fails midway, in a real gateway", () => {
  let s3: S3Server;
  let proxy: FaultProxy;
  let b2: B2Emulator;
  let model: MockModel;
  let gw: Gateway;
  const toolTurns = new ToolTurns();

  const key = () => b2.keys.scoped;
  const url = () => b2.url("openclaw");

  beforeAll(async () => {
    s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
    proxy = await startFaultProxy({ target: s3.endpoint });
    b2 = await startB2Emulator({ s3ApiUrl: proxy.url, bucket: s3.bucket });
    model = await startMockModel();
    model.script((req: ChatRequest) => toolTurns.reply(req));
    gw = await createGateway("restore-faults");
    gw.env.CLAWBACK_B2_AUTH_URL = b2.authUrl;
    await gw.configure([
      ...mockModelConfig(model.baseUrl),
      ...(await pluginConfigOps({ keyId: key().keyId, applicationKey: key().applicationKey, bucket: b2.bucket, passphrase: PASSPHRASE, schedule: "off" })),
      { path: "gateway.http.endpoints.chatCompletions", value: { enabled: true } },
    ]);
    // Enough packs that the download is still going when the first one has come back.
    const rand = prng(11);
    const big = path.join(gw.stateDir, "workspace", "notes");
    await fs.mkdir(big, { recursive: true });
    for (let i = 0; i < 24; i++) await fs.writeFile(path.join(big, `n-${i}.bin`), randomBytesFrom(rand, 2 * 1024 * 1024));
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
    await b2?.stop();
    await proxy?.stop();
    await s3?.stop();
  });

  const turn = (message: string, tool?: Record<string, unknown>) => toolTurns.turn(gw, message, tool);

  it("the restore fails, the state is exactly as before, and the gateway keeps working", async () => {
    const memory = path.join(gw.stateDir, "workspace", "MEMORY.md");
    await turn("first message alpha-3k9");
    await fs.writeFile(memory, "# memory\nversion one\n");
    await turn("back up now", { action: "backup" });
    const snaps = await snapshotsOf(url(), PASSPHRASE, b2.env(key()));
    expect(snaps.map((s) => s.reason)).toEqual(["manual"]);

    // After the backup: a new turn and new files, which a completed restore would take away.
    await turn("second message beta-8q2");
    await fs.writeFile(memory, "# memory\nversion two\n");
    for (let i = 0; i < 24; i++) await fs.appendFile(path.join(gw.stateDir, "workspace", "notes", `n-${i}.bin`), "changed after the backup");
    const before = await fileHashes(path.join(gw.stateDir, "workspace"));

    // Cut the network once the restore's download is under way: the restore first stores a
    // safety snapshot (its record is a PUT under snapshots/), then downloads packs (GETs under
    // data/). Choosing the snapshot before that reads packs too (its listing), so the cut waits
    // for a pack read after the safety snapshot's record.
    const seen = proxy.log.length;
    let cut = false;
    const watcher = setInterval(() => {
      if (cut) return;
      const since = proxy.log.slice(seen);
      const safety = since.findIndex((r) => r.method === "PUT" && r.path.includes("/snapshots/"));
      if (safety >= 0 && since.slice(safety).some((r) => r.method === "GET" && r.path.includes("/data/") && !r.fault)) {
        cut = true;
        proxy.setRate(1, ["reset"]);
      }
    }, 5);
    try {
      const asked = await turn("roll back to the backup", { action: "restore", snapshot: snaps[0]!.id.slice(0, 10) });
      expect(asked).toMatch(/clawback says/);
      await gw.waitForLog(/clawback: restore of snapshot [0-9a-f]{12} failed, the state is as it was/, 600_000);
    } finally {
      clearInterval(watcher);
      proxy.setRate(0);
    }
    expect(cut).toBe(true);
    expect(proxy.counts.faults.reset).toBeGreaterThan(0);
    // It failed downloading (not opening the repository or choosing the snapshot).
    expect((await clawbackLines(gw)).join("\n")).toMatch(/restore of snapshot [0-9a-f]{12} failed, the state is as it was: .*GET of \\?"data\//);

    expect(await fileHashes(path.join(gw.stateDir, "workspace"))).toEqual(before);
    expect((await clawbackLines(gw)).join("\n")).not.toMatch(/restarting the gateway/);
    expect(gw.running()).toBe(true);

    // The gateway keeps working, on the state it had: the history holds the turn after the backup.
    await turn("after the failed restore gamma-5t1");
    const history = model.requests[model.requests.length - 1]!.userText;
    expect(history).toContain("alpha-3k9");
    expect(history).toContain("beta-8q2");
    expect(history).toContain("gamma-5t1");

    // status says how it went.
    await turn("how did the restore go?", { action: "status" });
    expect(model.requests[model.requests.length - 1]!.toolResults.at(-1)).toMatch(/Last restore .*failed, and nothing was changed/);
  }, 1_200_000);
  it("a restore asked for while a backup runs is refused with a clear answer, and nothing changes", async () => {
    // A change large enough that the backup is still running when the restore is asked for.
    const rand = prng(12);
    const dir = path.join(gw.stateDir, "workspace", "during-backup");
    await fs.mkdir(dir, { recursive: true });
    for (let i = 0; i < 16; i++) await fs.writeFile(path.join(dir, `d-${i}.bin`), randomBytesFrom(rand, 4 * 1024 * 1024));
    const before = await fileHashes(path.join(gw.stateDir, "workspace"));
    const started = async () => (await clawbackLines(gw)).filter((l) => /backup \(manual\) started in engine process/.test(l)).length;
    const restores = async () => (await clawbackLines(gw)).filter((l) => /clawback: restoring /.test(l)).length;
    const startedBefore = await started();
    const restoresBefore = await restores();

    // The tool called directly (POST /tools/invoke), as a second chat would while the first backs up.
    const backup = gw.invokeTool("b2_rollback", { action: "backup" }, 600_000);
    for (let i = 0; i < 600 && (await started()) === startedBefore; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await started()).toBe(startedBefore + 1);
    const answer = await gw.invokeTool("b2_rollback", { action: "restore", snapshot: "latest" });
    expect(JSON.stringify(answer.body)).toMatch(/Not restoring now: a backup is running right now.*Nothing was changed/);
    const done = await backup;
    expect(done.status).toBe(200);

    expect(await restores()).toBe(restoresBefore);
    expect(await fileHashes(path.join(gw.stateDir, "workspace"))).toEqual(before);
    expect(gw.running()).toBe(true);
  }, 900_000);
});
