import type { Change, FileEntry, SnapshotSummary } from "../engine/types.ts";
import type { RequestCounts } from "../storage/backend.ts";
import { b2TransactionClasses } from "../storage/backend.ts";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function snapshotLine(s: SnapshotSummary): string {
  const tags = s.tags.length ? ` [${s.tags.join(", ")}]` : "";
  return `${shortId(s.id)}  ${s.time.replace("T", " ").slice(0, 19)}  ${s.host}  ${s.reason.padEnd(8)} ${String(s.stats.files).padStart(7)} files ${formatBytes(s.stats.bytes).padStart(10)}  ${s.root}${tags}`;
}

export function snapshotDetails(s: SnapshotSummary): string {
  return [
    `snapshot ${s.id}`,
    `time     ${s.time}`,
    `host     ${s.host}`,
    `root     ${s.root}`,
    `reason   ${s.reason}`,
    `tags     ${s.tags.join(", ") || "-"}`,
    `parent   ${s.parent ?? "-"}`,
    `files    ${s.stats.files} (${s.stats.dirs} folders), ${formatBytes(s.stats.bytes)}`,
    `added    ${formatBytes(s.stats.addedBytes)} in ${s.stats.addedChunks} chunks, ${s.stats.addedPacks} packs; ${s.stats.filesRead} files read${s.stats.databasesReadInPlace ? ` (${s.stats.databasesReadInPlace} databases through their WAL)` : ""}`,
    `took     ${formatDuration(s.stats.durationMs)}`,
  ].join("\n");
}

export function entryLine(e: FileEntry): string {
  const kind = e.type === "dir" ? "d" : e.type === "symlink" ? "l" : "-";
  const mode = (e.mode & 0o7777).toString(8).padStart(4, "0");
  const time = new Date(e.mtimeMs).toISOString().replace("T", " ").slice(0, 19);
  const name = e.type === "symlink" ? `${e.path} -> ${e.target}` : e.type === "dir" ? `${e.path}/` : e.path;
  return `${kind}${mode} ${String(e.size).padStart(12)} ${time}  ${JSON.stringify(name).slice(1, -1)}`;
}

const MARK: Record<Change["kind"], string> = { added: "+", removed: "-", modified: "M", type: "T", meta: "m" };

export function changeLine(c: Change): string {
  return `${MARK[c.kind]}  ${JSON.stringify(c.path).slice(1, -1)}`;
}

/** What a command asked of the storage, and what B2 would bill it as (class A is free). */
export function requestsLine(c: RequestCounts): string {
  const b2 = b2TransactionClasses(c);
  return `requests: ${c.put} PUT, ${c.get} GET, ${c.head} HEAD, ${c.list} LIST, ${c.delete} DELETE; ${formatBytes(c.bytesUp)} up, ${formatBytes(c.bytesDown)} down (B2 class A ${b2.classA}, B ${b2.classB}, C ${b2.classC})`;
}
