// The texts and details of b2_rollback status and list, from snapshot summaries as the engine
// returns them.
import { describe, expect, it } from "vitest";
import { B2_FREE_BYTES, growthPerDay, listReport, statusReport } from "../../src/openclaw/report.ts";
import type { SnapshotSummary } from "../../src/lib.ts";

const DAY = 86_400_000;

function snap(id: string, daysAgo: number, reason: string, files: number, bytes: number, addedBytes: number, host = "box"): SnapshotSummary {
  return {
    id: id.padEnd(64, "0"),
    time: new Date(Date.now() - daysAgo * DAY).toISOString(),
    host,
    reason,
    tags: [],
    root: "/state",
    stats: { files, dirs: 1, bytes, addedBytes, addedChunks: 1, addedPacks: 1, filesRead: files, durationMs: 1200 },
  };
}

describe("status and list answers", () => {
  it("grows by what the snapshots after the first added, per day", () => {
    const snaps = [snap("a", 10, "schedule", 10, 1000, 5_000_000), snap("b", 5, "schedule", 10, 1000, 1_000_000), snap("c", 0, "schedule", 10, 1000, 1_000_000)];
    expect(growthPerDay(snaps)).toBeCloseTo(200_000, -3);
    expect(growthPerDay(snaps.slice(0, 1))).toBeNull();
  });

  it("status: the last backup, the next one, the last error, the free tier and the days that fit", () => {
    const snaps = [snap("a", 2, "schedule", 10, 1000, 5_000_000), snap("b", 1, "shutdown", 11, 1100, 100_000_000), snap("c", 0, "pre-compaction", 11, 1100, 100_000_000)];
    const { text, details } = statusReport({
      status: {
        lastBackup: { snapshot: snaps[2]!.id, time: snaps[2]!.time, reason: "pre-compaction", durationMs: 2500, addedBytes: 100_000_000, files: 11, bytes: 1100 },
        lastError: { time: new Date(Date.now() - 3 * DAY).toISOString(), during: "backup (schedule)", message: "old failure" },
      },
      schedule: "daily",
      nextRun: new Date(Date.now() + DAY / 2),
      running: false,
      repo: { snapshots: snaps, stats: { snapshots: 3, logicalBytes: 3300, storedBytes: 1_000_000_000, packs: 10, blobs: 100, dedupRatio: 1 } },
    });
    expect(text).toContain("Last backup:");
    expect(text).toContain("(pre-compaction), took 2.5 s");
    expect(text).toContain("Next scheduled backup:");
    expect(text).toMatch(/Last error: none since the last backup; before it \(.*, backup \(schedule\)\): old failure/);
    expect(text).toContain("10.0 % of B2's 10 GB free tier");
    expect(details.repository).toMatchObject({ storedBytes: 1_000_000_000, freeTierBytes: B2_FREE_BYTES });
    // 200 MB added over the two days the snapshots span: 100 MB a day, 9 GB of room → 90 days.
    expect(details.repository!.daysThatFit).toBe(90);
    expect(text).toContain("about 90 more days fit");
  });

  it("status names the databases of the last backup that failed SQLite's quick_check", () => {
    const time = new Date().toISOString();
    const { text, details } = statusReport({
      status: { lastBackup: { snapshot: "e".repeat(64), time, reason: "schedule", durationMs: 900, addedBytes: 10, files: 3, bytes: 30, failedSqliteCheck: ["agents/main/agent/openclaw-agent.sqlite"] } },
      running: false,
    });
    expect(text).toContain("Database check: agents/main/agent/openclaw-agent.sqlite failed SQLite's quick_check in the last backup and was stored as found");
    expect(details.lastBackup?.failedSqliteCheck).toEqual(["agents/main/agent/openclaw-agent.sqlite"]);
  });

  it("status carries a config problem and a recent error", () => {
    const { text, details } = statusReport({ status: { lastError: { time: new Date().toISOString(), during: "opening the repository", message: "refused" } }, running: false, configError: "config bucket: is missing" });
    expect(text).toContain("clawback is not configured: config bucket: is missing");
    expect(text).toContain("opening the repository): refused");
    expect(details).toMatchObject({ configured: false, configError: "config bucket: is missing", nextScheduled: null });
  });

  it("list: newest first, reasons, change since the previous of the same host, safety snapshots apart", () => {
    const snaps = [snap("a1", 3, "schedule", 10, 2048, 500), snap("b2", 2, "safety", 10, 2048, 0), snap("c3", 1, "pre-compaction", 12, 4096, 700), snap("d4", 0, "shutdown", 11, 3072, 50)];
    const { text, details } = listReport(snaps);
    expect(details.snapshots.map((s) => s.reason)).toEqual(["shutdown", "pre-compaction", "schedule"]);
    expect(details.safety.map((s) => s.reason)).toEqual(["safety"]);
    expect(details.snapshots[0]!.change).toEqual({ files: -1, bytes: -1024 });
    expect(details.snapshots[2]!.change).toBeUndefined();
    const lines = text.split("\n");
    expect(lines[0]).toBe("3 snapshots, newest first:");
    expect(lines[1]).toMatch(/^- d40000000000 {2}.* shutdown: 11 files, 3.0 KiB \(-1 files, -1.0 KiB; 50 B new data\)$/);
    expect(text).toContain("Safety snapshots (taken before restores, never removed by retention): 1");
  });
});
