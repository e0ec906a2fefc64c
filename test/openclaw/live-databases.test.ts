// Backups run again and again (a schedule every 2 s) while agent turns write the gateway's own
// databases. No turn fails, and the gateway's WAL files are never deleted under it: if any code in
// the gateway's process opened and closed a descriptor of a live database (DESIGN.md, "One process,
// one set of locks"), the gateway's POSIX locks on it would be gone, and the engine child's SQLite,
// closing its connection after a capture, would believe itself the last user, checkpoint and
// delete the -wal: the gateway would then hold a "(deleted)" -wal descriptor and the -wal on disk
// would be a new file (another inode). Both are watched all along, from /proc/<gateway pid>/fd.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { pluginConfigOps } from "./helpers/plugin.ts";
import { snapshotsOf } from "./helpers/repo.ts";

const PASSPHRASE = "live-databases-passphrase";

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
    await gw.configure([...mockModelConfig(model.baseUrl), ...(await pluginConfigOps({ repository: url, passphrase: PASSPHRASE, schedule: "*/2 * * * * *" }))]);
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
});
