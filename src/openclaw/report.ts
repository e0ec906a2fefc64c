// The answers of `b2_rollback status` and `list` (and the CLI's status and log): a text for a
// person in a chat, and the same facts as data for programs.
import type { RepoStats, SnapshotSummary } from "../lib.ts";
import { formatBytes } from "./backups.ts";
import type { PluginStatus } from "./status-store.ts";

/** Backblaze B2's free storage: 10 GB (decimal). */
export const B2_FREE_BYTES = 10_000_000_000;
const DAY_MS = 86_400_000;
/** Snapshots of the last this-many days set the rate at which the repository grows. */
const RATE_WINDOW_DAYS = 30;

export interface StatusInput {
  status: PluginStatus;
  configError?: string;
  schedule?: string;
  nextRun?: Date | null;
  running: boolean;
  repo?: { snapshots: SnapshotSummary[]; stats: RepoStats };
  repoError?: string;
}

export interface StatusDetails {
  configured: boolean;
  configError?: string;
  running: boolean;
  lastBackup?: PluginStatus["lastBackup"];
  lastError?: PluginStatus["lastError"];
  schedule?: string;
  nextScheduled: string | null;
  repository?: {
    snapshots: number;
    storedBytes: number;
    freeTierBytes: number;
    freeTierUsed: number;
    addedBytesPerDay: number | null;
    daysThatFit: number | null;
  };
  repositoryError?: string;
}

export interface ListedSnapshot {
  id: string;
  time: string;
  reason: string;
  host: string;
  files: number;
  bytes: number;
  addedBytes: number;
  /** Against the previous snapshot of the same host (absent for the first). */
  change?: { files: number; bytes: number };
}

function when(iso: string): string {
  return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

/** Bytes added per day over the recent snapshots, or null with less than a day of history. */
export function growthPerDay(snapshots: SnapshotSummary[], now = Date.now()): number | null {
  const recent = snapshots.filter((s) => now - Date.parse(s.time) <= RATE_WINDOW_DAYS * DAY_MS).sort((a, b) => a.time.localeCompare(b.time));
  if (recent.length < 2) return null;
  const span = Date.parse(recent[recent.length - 1]!.time) - Date.parse(recent[0]!.time);
  // The first snapshot's additions predate the window's span (it may be the initial upload).
  const added = recent.slice(1).reduce((n, s) => n + s.stats.addedBytes, 0);
  return added / Math.max(span, DAY_MS) * DAY_MS;
}

export function statusReport(input: StatusInput): { text: string; details: StatusDetails } {
  const { status } = input;
  const details: StatusDetails = {
    configured: !input.configError,
    running: input.running,
    nextScheduled: input.nextRun ? input.nextRun.toISOString() : null,
    ...(input.configError ? { configError: input.configError } : {}),
    ...(status.lastBackup ? { lastBackup: status.lastBackup } : {}),
    ...(status.lastError ? { lastError: status.lastError } : {}),
    ...(input.schedule ? { schedule: input.schedule } : {}),
    ...(input.repoError ? { repositoryError: input.repoError } : {}),
  };
  const lines: string[] = [];
  if (input.configError) lines.push(`clawback is not configured: ${input.configError}`);
  const b = status.lastBackup;
  lines.push(b ? `Last backup: ${when(b.time)} (${b.reason}), took ${(b.durationMs / 1000).toFixed(1)} s, added ${formatBytes(b.addedBytes)} (snapshot ${b.snapshot.slice(0, 12)}).` : "No backup yet.");
  if (b?.failedSqliteCheck?.length) {
    lines.push(`Database check: ${b.failedSqliteCheck.join(", ")} failed SQLite's quick_check in the last backup and ${b.failedSqliteCheck.length === 1 ? "was" : "were"} stored as found; retention keeps the newest snapshot whose databases passed.`);
  }
  if (input.running) lines.push("A backup is running now.");
  if (input.schedule) lines.push(input.nextRun ? `Next scheduled backup: ${when(input.nextRun.toISOString())} (${input.schedule}).` : `Scheduled backups: ${input.schedule}.`);
  const e = status.lastError;
  // An error older than the last backup still shows (with its time): an intermittent failure
  // between two good backups is what a person looking at status wants to know about.
  if (!e) lines.push("Last error: none.");
  else if (!b || e.time > b.time) lines.push(`Last error (${when(e.time)}, ${e.during}): ${e.message}`);
  else lines.push(`Last error: none since the last backup; before it (${when(e.time)}, ${e.during}): ${e.message}`);
  if (input.repo) {
    const { stats, snapshots } = input.repo;
    const rate = growthPerDay(snapshots);
    const room = B2_FREE_BYTES - stats.storedBytes;
    const days = rate && rate > 0 ? Math.max(0, Math.floor(room / rate)) : null;
    details.repository = { snapshots: stats.snapshots, storedBytes: stats.storedBytes, freeTierBytes: B2_FREE_BYTES, freeTierUsed: stats.storedBytes / B2_FREE_BYTES, addedBytesPerDay: rate, daysThatFit: days };
    let line = `Repository: ${stats.snapshots} snapshots, ${formatBytes(stats.storedBytes)} stored, ${((stats.storedBytes / B2_FREE_BYTES) * 100).toFixed(1)} % of B2's 10 GB free tier`;
    line += rate === null ? "." : days === null ? `; it is not growing.` : `; at ${formatBytes(Math.round(rate))} a day, about ${days} more days fit.`;
    lines.push(line);
  } else if (input.repoError) lines.push(`Repository: could not be read (${input.repoError}).`);
  return { text: lines.join("\n"), details };
}

export function listReport(snapshots: SnapshotSummary[], limit = 20): { text: string; details: { snapshots: ListedSnapshot[]; safety: ListedSnapshot[] } } {
  const sorted = [...snapshots].sort((a, b) => a.time.localeCompare(b.time));
  const previous = new Map<string, SnapshotSummary>();
  const listed: ListedSnapshot[] = sorted.map((s) => {
    const prev = previous.get(s.host);
    previous.set(s.host, s);
    return {
      id: s.id,
      time: s.time,
      reason: s.reason,
      host: s.host,
      files: s.stats.files,
      bytes: s.stats.bytes,
      addedBytes: s.stats.addedBytes,
      ...(prev ? { change: { files: s.stats.files - prev.stats.files, bytes: s.stats.bytes - prev.stats.bytes } } : {}),
    };
  });
  // Safety snapshots (taken before a restore) are listed apart: they are not backups of a moment
  // the user chose, and retention never removes them.
  const regular = listed.filter((s) => s.reason !== "safety").reverse();
  const safety = listed.filter((s) => s.reason === "safety").reverse();
  const hosts = new Set(listed.map((s) => s.host));
  const line = (s: ListedSnapshot) => {
    const change = s.change ? `${s.change.files >= 0 ? "+" : ""}${s.change.files} files, ${s.change.bytes >= 0 ? "+" : "-"}${formatBytes(Math.abs(s.change.bytes))}` : "first snapshot";
    return `- ${s.id.slice(0, 12)}  ${when(s.time)}  ${s.reason}${hosts.size > 1 ? ` on ${s.host}` : ""}: ${s.files} files, ${formatBytes(s.bytes)} (${change}; ${formatBytes(s.addedBytes)} new data)`;
  };
  const lines: string[] = [];
  if (regular.length === 0) lines.push("No snapshots yet.");
  else {
    lines.push(`${regular.length} snapshot${regular.length === 1 ? "" : "s"}, newest first${regular.length > limit ? ` (the ${limit} newest shown)` : ""}:`);
    lines.push(...regular.slice(0, limit).map(line));
  }
  if (safety.length) {
    lines.push(`Safety snapshots (taken before restores, never removed by retention): ${safety.length}`);
    lines.push(...safety.slice(0, limit).map(line));
  }
  return { text: lines.join("\n"), details: { snapshots: regular, safety } };
}
