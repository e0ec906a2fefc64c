import { UsageError } from "../../errors.ts";
import { snapshotKey } from "../../repo/layout.ts";
import type { RepoContext } from "../context.ts";
import { listSnapshots, matchSnapshot } from "../snapshots.ts";
import { databasesPassed } from "../sqlite/check-schedule.ts";
import type { ForgetResult, RetentionPolicy, SnapshotSummary } from "../types.ts";

export async function forgetSnapshots(ctx: RepoContext, refs: string[]): Promise<ForgetResult> {
  if (refs.length === 0) throw new UsageError("forget needs snapshot ids or a retention policy (--keep-last, --keep-daily, --keep-weekly)");
  // A record that cannot be read is forgotten by its id too (invariant 12: it must not stay for good).
  const ids = [...new Set(refs.map((r) => matchSnapshot(ctx, r).id))];
  for (const id of ids) {
    await ctx.backend.delete(snapshotKey(id));
    ctx.cache.deleteSnapshot(id);
  }
  return { removed: ids, kept: listSnapshots(ctx).map((s) => s.id) };
}

/**
 * Retention per (host, root): keep the newest `keepLast`, the newest of each of the last
 * `keepDaily` days and `keepWeekly` ISO weeks that have snapshots. Safety snapshots are never
 * removed by a policy, nor is the newest snapshot whose databases all passed quick_check (checks
 * run at most once a day, and a database found damaged is stored as found: this keeps a sound copy
 * of every database within reach whatever the policy).
 */
export async function forgetByPolicy(ctx: RepoContext, policy: RetentionPolicy, opts: { dryRun?: boolean } = {}): Promise<ForgetResult> {
  const { keepLast = 0, keepDaily = 0, keepWeekly = 0 } = policy;
  for (const [name, v] of Object.entries({ keepLast, keepDaily, keepWeekly })) {
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`${name} must be a whole number ≥ 0, got ${String(v)}`);
  }
  if (keepLast + keepDaily + keepWeekly === 0) throw new UsageError("a retention policy must keep something: set keep-last, keep-daily or keep-weekly");
  const keep = new Set<string>();
  const groups = new Map<string, SnapshotSummary[]>();
  for (const s of listSnapshots(ctx)) {
    if (s.reason === "safety") keep.add(s.id);
    const g = `${s.host}\0${s.root}`;
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  for (const snaps of groups.values()) {
    const newest = [...snaps].filter((s) => s.reason !== "safety").reverse();
    newest.slice(0, keepLast).forEach((s) => keep.add(s.id));
    keepNewestPerBucket(newest, keepDaily, (s) => s.time.slice(0, 10), keep);
    keepNewestPerBucket(newest, keepWeekly, (s) => isoWeek(new Date(s.time)), keep);
    const sound = newest.find((s) => databasesPassed(s.sqliteCheck));
    if (sound) keep.add(sound.id);
  }
  const all = listSnapshots(ctx);
  const removed = all.filter((s) => !keep.has(s.id)).map((s) => s.id);
  if (!opts.dryRun) {
    for (const id of removed) {
      await ctx.backend.delete(snapshotKey(id));
      ctx.cache.deleteSnapshot(id);
    }
  }
  return { removed, kept: all.filter((s) => keep.has(s.id)).map((s) => s.id) };
}

function keepNewestPerBucket(newestFirst: SnapshotSummary[], count: number, bucket: (s: SnapshotSummary) => string, keep: Set<string>): void {
  const seen = new Set<string>();
  for (const s of newestFirst) {
    if (seen.size >= count) break;
    const b = bucket(s);
    if (seen.has(b)) continue;
    seen.add(b);
    keep.add(s.id);
  }
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, "0")}`;
}
