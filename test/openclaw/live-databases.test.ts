// Backups run again and again (a schedule every 2 s) while agent turns write the gateway's own
// databases. No turn fails, and the gateway's WAL files are never deleted under it: if any code in
// the gateway's process opened and closed a descriptor of a live database (DESIGN.md, "One process,
// one set of locks"), the gateway's POSIX locks on it would be gone, and the engine child's SQLite,
// closing its connection after a capture, would believe itself the last user, checkpoint and
// delete the -wal: the gateway would then hold a "(deleted)" -wal descriptor and the -wal on disk
// would be a new file (another inode). Both are watched all along, from /proc/<gateway pid>/fd.
// Then secrets are seeded into the gateway's own databases (the secret tables and rows), files
// and config while it runs: the backups that follow put none of them into the bucket, decrypted
// or as stored, and each database of the last snapshot passes integrity_check.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { pluginConfigOps } from "./helpers/plugin.ts";
import { snapshotsOf, waitForSnapshots } from "./helpers/repo.ts";
import { AGENT_SECRET_TABLES, GLOBAL_SECRET_TABLES } from "../../src/openclaw/secrets/secret-state.ts";
import { openBackend } from "../../src/storage/open.ts";
import { Repository } from "../../src/lib.ts";
import { repositoryPlaintexts } from "./secrets/plaintext.ts";
import { integrityCheck, leaked, readAllFiles, seedDatabaseSecrets } from "./secrets/openclaw-state.ts";
import { randomBytes } from "node:crypto";

const PASSPHRASE = `CLAWSECRET-passphrase-${randomBytes(6).toString("hex")}`;
const API_KEY = `CLAWSECRET-provider-apiKey-${randomBytes(6).toString("hex")}`;

interface FdSample {
  /** -wal (and other SQLite) files the gateway holds whose name ends in "(deleted)". */
  deleted: string[];
  /** Inode of each -wal the gateway holds, by path. */
  walInodes: Map<string, number>;
}

async function sampleFds(pid: number, stateDir: string): Promise<FdSample> {
  const dir = `/proc/${pid}/fd`;
  const deleted: string[] = [];
  const walInodes = new Map<string, number>();
  let fds: string[] = [];
  try {
    fds = await fs.readdir(dir);
  } catch {
    return { deleted, walInodes };
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = await fs.readlink(path.join(dir, fd));
    } catch {
      continue;
    }
    if (!target.startsWith(stateDir)) continue;
    if (/\.sqlite(-wal|-shm)?( \(deleted\))$/.test(target)) deleted.push(target);
    else if (target.endsWith(".sqlite-wal")) {
      const st = await fs.stat(path.join(dir, fd)).catch(() => undefined);
      if (st) walInodes.set(target, st.ino);
    }
  }
  return { deleted, walInodes };
}

describe("backups while the gateway writes its databases", () => {
  let model: MockModel;
  let gw: Gateway;
  let url: string;

  beforeAll(async () => {
    model = await startMockModel();
    model.script(() => ({ text: "noted, and written to the session" }));
    gw = await createGateway("livedb");
    url = `file://${path.join(gw.root, "repo")}`;
    await gw.configure([
      ...mockModelConfig(model.baseUrl),
      { path: "models.providers.mock.apiKey", value: API_KEY },
      ...(await pluginConfigOps({ repository: url, passphrase: PASSPHRASE, schedule: "*/2 * * * * *" })),
    ]);
    await gw.start();
  }, 900_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  it("no turn fails and no WAL is deleted under the gateway while backups run repeatedly", async () => {
    const pid = gw.pid!;
    const deleted = new Set<string>();
    const inodes = new Map<string, Set<number>>();
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await sampleFds(pid, gw.stateDir);
        samples++;
        for (const d of s.deleted) deleted.add(d);
        for (const [p, ino] of s.walInodes) {
          if (!inodes.has(p)) inodes.set(p, new Set());
          inodes.get(p)!.add(ino);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    const before = (await snapshotsOf(url, PASSPHRASE).catch(() => [])).length;
    const turns: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t = await gw.cli(["agent", "--agent", "main", "--message", `turn ${i}: remember the number ${i * 7}`, "--json"]);
      turns.push(t.code ?? -1);
    }
    sampling = false;
    await sampler;

    const after = await snapshotsOf(url, PASSPHRASE);
    expect(turns).toEqual([0, 0, 0, 0]);
    // Backups really ran during the turns (the schedule fires every 2 s; one at a time).
    expect(after.length - before).toBeGreaterThanOrEqual(3);
    expect(after.every((s) => s.reason === "schedule")).toBe(true);
    expect(samples).toBeGreaterThan(20);
    expect([...deleted]).toEqual([]);
    // The agent database's WAL was held by the gateway throughout, always the same file.
    const agentWal = [...inodes.keys()].filter((p) => p.endsWith("openclaw-agent.sqlite-wal"));
    expect(agentWal.length).toBeGreaterThan(0);
    for (const [p, set] of inodes) expect({ wal: p, inodes: set.size }).toEqual({ wal: p, inodes: 1 });
    expect(gw.running()).toBe(true);
  }, 400_000);
  it("secrets seeded into the running gateway's databases, files and config never reach the bucket; captured databases pass integrity_check", async () => {
    const seeded = seedDatabaseSecrets(gw.stateDir, "LIVE", { global: GLOBAL_SECRET_TABLES, agent: AGENT_SECRET_TABLES, agents: ["main"] });
    const envValue = `CLAWSECRET-env-${randomBytes(6).toString("hex")}`;
    const credential = `CLAWSECRET-credential-${randomBytes(6).toString("hex")}`;
    await fs.writeFile(path.join(gw.stateDir, ".env"), `OPENAI_API_KEY=${envValue}\n`);
    await fs.mkdir(path.join(gw.stateDir, "credentials"), { recursive: true });
    await fs.writeFile(path.join(gw.stateDir, "credentials", "live.json"), JSON.stringify({ token: credential }));
    const values = [...seeded.values, envValue, credential, API_KEY, PASSPHRASE];
    // The control: every value is in the live state folder, where a scan of the bucket would find it.
    expect(leaked(values, await readAllFiles(gw.stateDir)).sort()).toEqual([...values].sort());

    // Two backups started after the seeding (retention keeps the count level, so count by time).
    const seededAt = Date.now();
    const after = await waitForSnapshots(url, PASSPHRASE, (s) => s.filter((x) => Date.parse(x.time) > seededAt + 1000).length >= 2, 180_000);

    const backend = await openBackend(url);
    try {
      const { decrypted, raw } = await repositoryPlaintexts(backend, PASSPHRASE);
      expect(leaked(values, [...decrypted, ...raw])).toEqual([]);
    } finally {
      await backend.close();
    }

    const out = path.join(gw.root, "restored");
    const cacheDir = path.join(gw.root, "test-cache");
    const repo = await Repository.open(url, { passphrase: PASSPHRASE, cacheDir });
    try {
      await repo.checkout(after[after.length - 1]!.id, out);
    } finally {
      await repo.close();
    }
    const databases = (await fs.readdir(out, { recursive: true })).filter((f) => String(f).endsWith(".sqlite"));
    expect(databases).toEqual(expect.arrayContaining(["state/openclaw.sqlite", "agents/main/agent/openclaw-agent.sqlite"]));
    for (const db of databases) expect({ db, check: integrityCheck(path.join(out, String(db))) }).toEqual({ db, check: "ok" });
    expect(seeded.kept.length).toBeGreaterThan(0);
    expect(gw.running()).toBe(true);
  }, 400_000);
});
