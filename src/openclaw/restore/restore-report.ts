// The restore side's answers in words: show, diff, a restore's plan and its outcome. Each is a
// text for the person in the chat and the same facts as `details` for programs.
import type { SnapshotSummary } from "../../lib.ts";
import { formatBytes } from "../backups.ts";
import type { DiffEntry, ShowReply } from "./protocol.ts";
import type { RestoreRecord } from "./restore-store.ts";
import { describe } from "./select.ts";

export interface Answer {
  text: string;
  details: unknown;
}

export function showReport(r: ShowReply, why: string): Answer {
  const s = r.snapshot;
  const lines = [
    `Snapshot ${s.id.slice(0, 12)}: ${why}.`,
    `Taken ${new Date(s.time).toString().slice(0, 21)} on ${s.host} (${s.reason}${s.tags.length ? `; ${s.tags.join(", ")}` : ""}): ${s.stats.files} files, ${formatBytes(s.stats.bytes)}.`,
    ...r.top.slice(0, 8).map((t) => `  ${t.path}: ${t.files} file${t.files === 1 ? "" : "s"}, ${formatBytes(t.bytes)}`),
  ];
  return { text: lines.join("\n"), details: r };
}

export function diffReport(changes: DiffEntry[], from: SnapshotSummary, to: SnapshotSummary | "now"): Answer {
  const label = to === "now" ? "now" : `snapshot ${describe(to)}`;
  const counts = { added: 0, removed: 0, modified: 0, other: 0 };
  for (const c of changes) {
    if (c.kind === "added" || c.kind === "removed" || c.kind === "modified") counts[c.kind]++;
    else counts.other++;
  }
  const head = changes.length === 0
    ? `Nothing changed between snapshot ${describe(from)} and ${label}.`
    : `From snapshot ${describe(from)} to ${label}: ${counts.added} added, ${counts.modified} changed, ${counts.removed} removed${counts.other ? `, ${counts.other} with new permissions or times` : ""}.`;
  const shown = changes.filter((c) => c.kind !== "meta").slice(0, 15).map((c) => `  ${sign(c)} ${c.path}${size(c)}`);
  const more = changes.length > shown.length ? [`  … and ${changes.length - shown.length} more`] : [];
  return { text: [head, ...shown, ...more].join("\n"), details: { from: from.id, to: to === "now" ? "now" : to.id, changes } };
}

function sign(c: DiffEntry): string {
  return c.kind === "added" ? "+" : c.kind === "removed" ? "-" : "~";
}

function size(c: DiffEntry): string {
  if (c.kind === "modified" && c.before !== undefined && c.after !== undefined) return ` (${formatBytes(c.before)} → ${formatBytes(c.after)})`;
  const n = c.after ?? c.before;
  return n === undefined ? "" : ` (${formatBytes(n)})`;
}

export function outcomeText(r: RestoreRecord): string {
  const what = r.paths?.length ? r.paths.join(", ") : "the whole state";
  if (!r.ok) return `The restore of ${what} from snapshot ${r.snapshot.slice(0, 12)} failed, and nothing was changed: ${r.error}`;
  const parts = [`Restored ${what} from snapshot ${r.snapshot.slice(0, 12)} (${r.why})`];
  if (r.databases?.length) parts.push(`${r.databases.length} database${r.databases.length === 1 ? "" : "s"} rolled back`);
  if (r.files) parts.push(`${r.files} file${r.files === 1 ? "" : "s"} put back`);
  if (r.removed) parts.push(`${r.removed} file${r.removed === 1 ? "" : "s"} made since removed`);
  const undo = r.safetySnapshot ? ` To undo it, restore the safety snapshot ${r.safetySnapshot.slice(0, 12)} ("undo").` : "";
  return `${parts.join("; ")}.${r.restarted ? " The gateway restarted on the restored state." : ""}${undo}`;
}
