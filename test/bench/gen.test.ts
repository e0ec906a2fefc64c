// The benchmark generator is deterministic (same seed → same bytes in every file, databases with
// their -wal/-shm and the workspace's .git included), and a simulated day changes what it should.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateInit, readMeta, simulateDay } from "../../bench/gen/index.ts";
import { walkFiles } from "../../bench/lib/fsutil.ts";

const SIZE = 5 * 1024 * 1024;

function hashes(root: string): Map<string, string> {
  return new Map(walkFiles(root).map((f) => [f.rel, createHash("sha256").update(readFileSync(f.abs)).digest("hex")]));
}

function query<T>(path: string, sql: string): T {
  // A copy, so reading never checkpoints or alters the generated files.
  const dir = mkdtempSync(join(tmpdir(), "gen-q-"));
  try {
    execFileSync("cp", [path, `${path}-wal`, dir]);
    const db = new DatabaseSync(join(dir, path.split("/").pop() ?? "db"));
    try {
      return db.prepare(sql).get() as T;
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("bench generator", () => {
  let base: string;
  let a: string;
  let b: string;
  let day0: Map<string, string>;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "bench-gen-"));
    a = join(base, "a");
    b = join(base, "b");
    await generateInit(a, { sizeBytes: SIZE, seed: "test" });
    await generateInit(b, { sizeBytes: SIZE, seed: "test" });
    day0 = hashes(a);
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("writes an OpenClaw-shaped state directory", () => {
    const meta = readMeta(a);
    expect(meta.agents.length).toBeGreaterThanOrEqual(2);
    for (const f of ["openclaw.json", ".env", "state/openclaw.sqlite", "state/openclaw.sqlite-wal", "state/openclaw.sqlite-shm", "workspace/.git/HEAD", "workspace/MEMORY.md", "credentials/whatsapp/default/creds.json"]) {
      expect(day0.has(f), f).toBe(true);
    }
    for (const agent of meta.agents) {
      expect(day0.has(`agents/${agent}/agent/openclaw-agent.sqlite`)).toBe(true);
      expect([...day0.keys()].some((f) => f.startsWith(`agents/${agent}/sessions/cold/`) && f.endsWith(".jsonl.zst"))).toBe(true);
    }
    expect([...day0.keys()].some((f) => f.startsWith("media/"))).toBe(true);
    const db = join(a, "agents/main/agent/openclaw-agent.sqlite");
    expect(query<{ r: string }>(db, "SELECT integrity_check AS r FROM pragma_integrity_check").r).toBe("ok");
    expect(query<{ m: string }>(db, "SELECT journal_mode AS m FROM pragma_journal_mode").m).toBe("wal");
    expect(query<{ n: number }>(db, "SELECT count(*) AS n FROM memory_chunks_fts WHERE memory_chunks_fts MATCH 'the'").n).toBeGreaterThan(0);
    expect(query<{ n: number }>(join(a, "state/openclaw.sqlite"), "SELECT count(*) AS n FROM secret_store_entries").n).toBeGreaterThan(0);
  });

  it("same seed gives the same bytes, and so does the same day", async () => {
    expect(hashes(b)).toEqual(day0);
    await simulateDay(a);
    await simulateDay(b);
    expect(hashes(b)).toEqual(hashes(a));
  });

  it("a day appends turns, compacts a session into cold/, edits and commits the workspace", () => {
    // `a` is now at day 1 (previous test).
    const after = hashes(a);
    const changed = [...after.keys()].filter((f) => day0.get(f) !== after.get(f));
    const added = [...after.keys()].filter((f) => !day0.has(f));
    const removed = [...day0.keys()].filter((f) => !after.has(f));
    expect(readMeta(a).day).toBe(1);
    expect(added.some((f) => /agents\/[^/]+\/sessions\/cold\/.+\.jsonl\.zst$/.test(f))).toBe(true);
    expect(added.some((f) => f.startsWith("media/inbound/"))).toBe(true);
    expect(added.some((f) => f.startsWith("workspace/.git/objects/"))).toBe(true);
    expect(changed).toContain("workspace/MEMORY.md");
    expect(changed).toContain("state/openclaw.sqlite-wal");
    expect(changed).toContain("credentials/whatsapp/default/creds.json");
    expect(changed.filter((f) => /agents\/[^/]+\/agent\/openclaw-agent\.sqlite(-wal)?$/.test(f)).length).toBeGreaterThan(0);
    expect(removed.some((f) => f.startsWith("credentials/whatsapp/default/pre-key-"))).toBe(true);
    for (const f of after.keys()) if (f.endsWith("-wal")) expect(after.has(f.replace(/-wal$/, "-shm"))).toBe(true);
    const db = join(a, "agents/main/agent/openclaw-agent.sqlite");
    const latest = query<{ t: number }>(db, "SELECT max(created_at) AS t FROM transcript_events").t;
    expect(new Date(latest).toISOString().slice(0, 10)).toBe("2026-09-02");
    expect(query<{ n: number }>(db, "SELECT count(*) AS n FROM memory_chunks WHERE updated_at >= 1788307200000").n).toBeGreaterThan(0);
    const log = execFileSync("git", ["log", "--format=%cI %s"], { cwd: join(a, "workspace"), encoding: "utf8" });
    expect(log.split("\n")[0]).toMatch(/^2026-09-02T/);
    expect(existsSync(join(a, "workspace/memory/2026-09-02.md"))).toBe(true);
  });
});
