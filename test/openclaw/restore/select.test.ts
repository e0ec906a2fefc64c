import { describe, expect, it } from "vitest";
import { SnapshotNotFoundError, type SnapshotSummary } from "../../../src/lib.ts";
import { selectSnapshot } from "../../../src/openclaw/restore/select.ts";

// Local-time clock and snapshot times (new Date(y, m, d, h, mi)), so the test holds in any zone.
const now = new Date(2026, 11, 6, 20, 0); // Sunday 6 December 2026, 20:00 local

let seq = 0;
function snap(at: Date, reason: string): SnapshotSummary {
  seq++;
  const id = (seq.toString(16).padStart(2, "0") + "a1b2c3d4e5f6").padEnd(64, "0");
  return {
    id, time: at.toISOString(), host: "h", reason, tags: [], root: "/s",
    stats: { files: 1, dirs: 0, bytes: 1, addedBytes: 0, addedChunks: 0, addedPacks: 0, filesRead: 0, durationMs: 1 },
  };
}

const s = {
  dec5Midnight: snap(new Date(2026, 11, 5, 0, 0, 5), "schedule"),
  dec4Compaction: snap(new Date(2026, 11, 4, 15, 30), "pre-compaction"),
  dec5Morning: snap(new Date(2026, 11, 5, 9, 15), "manual"),
  dec5Evening: snap(new Date(2026, 11, 5, 19, 40), "pre-compaction"),
  dec5Late: snap(new Date(2026, 11, 5, 22, 10), "shutdown"),
  dec6Night: snap(new Date(2026, 11, 6, 0, 0, 5), "schedule"),
  dec6Safety: snap(new Date(2026, 11, 6, 17, 0), "safety"),
  dec6Afternoon: snap(new Date(2026, 11, 6, 16, 50), "manual"),
  dec6Recent: snap(new Date(2026, 11, 6, 19, 30), "schedule"),
};
// Handed over in a scrambled order: selection sorts by time itself.
const list = [s.dec6Recent, s.dec5Midnight, s.dec6Safety, s.dec5Evening, s.dec4Compaction, s.dec5Late, s.dec6Night, s.dec5Morning, s.dec6Afternoon];

function pick(q: string): SnapshotSummary {
  return selectSnapshot(list, q, now).snapshot;
}

describe("selectSnapshot", () => {
  it("takes an id or a unique id prefix, safety snapshots included", () => {
    expect(pick(s.dec5Morning.id)).toBe(s.dec5Morning);
    expect(pick(s.dec6Safety.id.slice(0, 6))).toBe(s.dec6Safety);
    expect(() => pick("a1b2c3d4")).toThrow(SnapshotNotFoundError); // no snapshot starts so
  });

  it("latest, latest~N and 'N snapshots ago' skip safety snapshots", () => {
    expect(pick("latest")).toBe(s.dec6Recent);
    expect(pick("the latest snapshot")).toBe(s.dec6Recent);
    expect(pick("latest~1")).toBe(s.dec6Afternoon);
    expect(pick("2 snapshots ago")).toBe(s.dec6Night);
  });

  it("relative times pick the newest snapshot at or before that moment, never a safety snapshot", () => {
    expect(pick("2 hours ago")).toBe(s.dec6Afternoon); // 18:00 → 16:50 (the 17:00 safety snapshot is skipped)
    expect(pick("30 minutes ago")).toBe(s.dec6Recent);
    expect(pick("an hour ago")).toBe(s.dec6Afternoon);
    expect(pick("2 days ago")).toBe(s.dec4Compaction); // 4 Dec 20:00 → 4 Dec 15:30
    expect(() => pick("3 days ago")).toThrow(/no snapshot is as old as 2026-12-03 20:00/);
  });

  it("a named period prefers its last snapshot and says when none was inside it", () => {
    const evening = selectSnapshot(list, "yesterday evening", now);
    expect(evening.snapshot).toBe(s.dec5Late);
    expect(evening.why).toMatch(/last snapshot of yesterday evening/);
    expect(pick("yesterday morning")).toBe(s.dec5Morning);
    expect(pick("yesterday")).toBe(s.dec5Late);
    const afternoon = selectSnapshot(list, "yesterday afternoon", now);
    expect(afternoon.snapshot).toBe(s.dec5Morning);
    expect(afternoon.why).toMatch(/no snapshot was taken yesterday afternoon/);
    expect(pick("last night")).toBe(s.dec6Night); // 18:00 yesterday to 06:00 today
    expect(pick("this morning")).toBe(s.dec6Night);
  });

  it("ISO dates are local days, ISO times are moments; clock times are today's (or yesterday's if still ahead)", () => {
    expect(pick("2026-12-04")).toBe(s.dec4Compaction);
    expect(pick("2026-12-05")).toBe(s.dec5Late);
    expect(pick("2026-12-05 12:00")).toBe(s.dec5Morning);
    expect(pick(new Date(2026, 11, 5, 19, 45).toISOString())).toBe(s.dec5Evening);
    expect(pick("5pm")).toBe(s.dec6Afternoon);
    expect(pick("at 17:00")).toBe(s.dec6Afternoon);
    expect(pick("10pm")).toBe(s.dec5Evening); // 22:00 today is ahead of now, so yesterday 22:00
  });

  it("'before X' is strictly before X began", () => {
    expect(pick("before yesterday evening")).toBe(s.dec5Morning);
    expect(pick("before 2026-12-05")).toBe(s.dec4Compaction);
    expect(pick("before today")).toBe(s.dec5Late);
  });

  it("'before the last compaction' is the latest pre-compaction snapshot itself", () => {
    for (const q of ["before the last compaction", "the one before the last compaction", "roll back to before the last compaction", "pre-compaction", "the last compaction"]) {
      const sel = selectSnapshot(list, q, now);
      expect(sel.snapshot, q).toBe(s.dec5Evening);
      expect(sel.why).toMatch(/right before the last compaction/);
    }
  });

  it("reasons pick the latest snapshot of that reason", () => {
    expect(pick("the last shutdown")).toBe(s.dec5Late);
    expect(pick("latest manual backup")).toBe(s.dec6Afternoon);
    expect(pick("nightly")).toBe(s.dec6Recent);
  });

  it("undo names the newest safety snapshot", () => {
    expect(pick("undo")).toBe(s.dec6Safety);
    expect(pick("before the last restore")).toBe(s.dec6Safety);
    expect(() => selectSnapshot(list.filter((x) => x.reason !== "safety"), "undo", now)).toThrow(/no safety snapshot/);
  });

  it("refuses what it cannot place, saying what exists", () => {
    expect(() => pick("the day the music died")).toThrow(/not understood/);
    expect(() => pick("")).toThrow(SnapshotNotFoundError);
    expect(() => pick("before 2026-12-01")).toThrow(/8 snapshots, from 2026-12-04 15:30 to 2026-12-06 19:30/);
    expect(() => selectSnapshot([], "latest", now)).toThrow(/no snapshots yet/);
    expect(() => pick("2026-02-30")).toThrow(/not understood/);
  });
});
