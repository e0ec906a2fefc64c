// Storage bench: N simulated days of an OpenClaw state directory, backed up once a day by clawback,
// restic, borg and a whole-file uploader, against the floor. See bench/README.md.
//
//   node bench/storage.ts [--days 30] [--size-mb 500] [--seed clawback] [--tools clawback,restic,borg]
//                         [--keep-daily 7] [--keep-weekly 4] [--work DIR] [--out bench/out] [--keep-work]

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { generateInit, simulateDay } from "./gen/index.ts";
import { DAY_MS, dayStart } from "./gen/plan.ts";
import { changedPagesSize, compressedFileSize, deltaSize } from "./lib/floor.ts";
import { duBytes, fmtBytes, isSqliteSidecar, walkFiles } from "./lib/fsutil.ts";
import { syncMirror } from "./lib/mirror.ts";
import { lineChart } from "./lib/svg.ts";
import { Clawback, describeClawback, freezeClawback, hasFaketime, makeTool, REPO_ROOT, toolAvailability, type Tool } from "./lib/tools.ts";
import { arg } from "./lib/args.ts";

const FREE_TIER = 10e9; // B2: the first 10 GB stored are free

const days = Number(arg("days", "30"));
const sizeMb = Number(arg("size-mb", "500"));
const seed = arg("seed", "clawback");
const keepDaily = Number(arg("keep-daily", "7"));
const keepWeekly = Number(arg("keep-weekly", "4"));
const outDir = resolve(arg("out", join(REPO_ROOT, "bench", "out")));
const work = resolve(arg("work", join(outDir, "work-storage")));
const wanted = arg("tools", "clawback,restic,borg").split(",").filter(Boolean);
const keepWork = process.argv.includes("--keep-work");
const clawbackLive = process.argv.includes("--clawback-live");

interface Row {
  day: number;
  stateBytes: number;
  floorDay: number;
  /** The day's floor by kind of file (where the bytes go). */
  floorBy: Record<string, number>;
  floor: number;
  fullCompressed: number;
  wholeRaw: number;
  wholeZstd: number;
  tools: Record<string, number>;
  clawbackAdded?: number;
}

const notes: string[] = [];
const availability = toolAvailability();
const tools: Tool[] = [];
mkdirSync(outDir, { recursive: true });
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const clawbackVersion = wanted.includes("clawback") && !availability.clawback ? (clawbackLive ? describeClawback() + " (live working tree)" : freezeClawback(join(work, "clawback-frozen"))) : "";
for (const name of wanted) {
  const why = availability[name];
  if (why) {
    notes.push(`${name}: skipped, ${why}`);
    continue;
  }
  tools.push(makeTool(name, work));
}
if (!hasFaketime && tools.some((t) => t.name === "clawback")) notes.push("clawback: faketime not installed (apt-get install faketime): snapshots carry real times, so its retention result is not comparable");

const state = join(work, "state");
const mirror = join(work, "mirror");
const t0 = Date.now();
console.log(`generating ${sizeMb} MB state (seed ${seed}) in ${state} ...`);
await generateInit(state, { sizeBytes: Math.round(sizeMb * 1024 * 1024), seed });
console.log(`  ${fmtBytes(duBytes(state))} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

for (const t of [...tools]) {
  try {
    await t.init();
  } catch (e) {
    notes.push(`${t.name}: init failed: ${(e as Error).message.split("\n")[0]}`);
    tools.splice(tools.indexOf(t), 1);
  }
}
console.log(`tools: ${tools.map((t) => t.name).join(", ") || "(none)"}${notes.length ? `\n  ${notes.join("\n  ")}` : ""}`);

function category(rel: string): string {
  if (rel.startsWith("state/")) return "state db";
  if (/^agents\/[^/]+\/agent\/.*\.sqlite$/.test(rel)) return "agent dbs";
  if (rel.includes("/sessions/cold/")) return "cold transcripts";
  if (rel.startsWith("workspace/.git/")) return "workspace .git";
  if (rel.startsWith("workspace/attachments/")) return "attachments";
  if (rel.startsWith("workspace/")) return "workspace text";
  if (rel.startsWith("media/")) return "media";
  if (rel.startsWith("extensions/") || rel.startsWith("npm/")) return "plugins";
  return "other";
}

type Manifest = Map<string, { hash: string; size: number; zsize: number }>;
const manifests: Manifest[] = [];
const rows: Row[] = [];
let floor = 0;
let wholeRaw = 0;
let wholeZstd = 0;
const header = ["day", "state", "floor", ...tools.map((t) => t.name), "whole", "whole+zstd"];
console.log(header.map((h) => h.padStart(11)).join(""));

for (let day = 0; day <= days; day++) {
  if (day > 0) await simulateDay(state);
  const snapTime = dayStart(day) + 23 * 3_600_000 + 30 * 60_000;

  // The floor, while bringing the peers' consistent mirror up to date.
  let floorDay = 0;
  const floorBy: Record<string, number> = {};
  syncMirror(state, mirror, (c) => {
    if (c.status === "deleted" || !c.newPath) return;
    let n: number;
    if (c.sqlite) n = changedPagesSize(c.oldPath, c.newPath).bytes;
    else if (c.status === "new" || !c.oldPath) n = compressedFileSize(c.newPath).zsize;
    else n = deltaSize(c.oldPath, c.newPath);
    floorDay += n;
    const kind = category(c.rel);
    floorBy[kind] = (floorBy[kind] ?? 0) + n;
  });
  floor += floorDay;
  const fullCompressed = walkFiles(mirror).reduce((a, f) => a + compressedFileSize(f.abs).zsize, 0);

  // Whole-file uploads: every new or changed file (databases as they lie, sidecars skipped) again in full.
  const manifest: Manifest = new Map();
  const prev = manifests[manifests.length - 1];
  for (const f of walkFiles(state, (rel) => isSqliteSidecar(rel))) {
    const c = compressedFileSize(f.abs);
    manifest.set(f.rel, c);
    if (prev?.get(f.rel)?.hash !== c.hash) {
      wholeRaw += c.size;
      wholeZstd += c.zsize;
    }
  }
  manifests.push(manifest);

  const row: Row = { day, stateBytes: duBytes(state), floorDay, floorBy, floor, fullCompressed, wholeRaw, wholeZstd, tools: {} };
  for (const t of [...tools]) {
    try {
      const r = await t.backup(t.name === "clawback" ? state : mirror, snapTime);
      row.tools[t.name] = t.storedBytes();
      if (t.name === "clawback") {
        try {
          row.clawbackAdded = (JSON.parse(r.stdout) as { snapshot: { stats: { addedBytes: number } } }).snapshot.stats.addedBytes;
        } catch {
          // output not JSON: the repository size is what counts
        }
      }
    } catch (e) {
      notes.push(`${t.name}: day ${day} failed, dropped from the run: ${(e as Error).message.split("\n").slice(0, 3).join(" | ")}`);
      console.log(`  ${notes[notes.length - 1]}`);
      tools.splice(tools.indexOf(t), 1);
    }
  }
  rows.push(row);
  const cells = [String(day), fmtBytes(row.stateBytes), fmtBytes(floor), ...header.slice(3, -2).map((n) => fmtBytes(row.tools[n] ?? NaN)), fmtBytes(wholeRaw), fmtBytes(wholeZstd)];
  console.log(cells.map((c) => c.padStart(11)).join(""));
}

// ---- retention ----
// Which simulated days a keep-daily/keep-weekly policy keeps (restic's and borg's rule: newest
// snapshot of each of the last N days, and of each of the last M ISO weeks).
function isoWeek(ms: number): string {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - day + 3);
  const firstThursday = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round(((d.getTime() - firstThursday.getTime()) / DAY_MS - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7);
  return `${d.getUTCFullYear()}-W${week}`;
}
const kept = new Set<number>();
{
  const seenDays = new Set<string>();
  const seenWeeks = new Set<string>();
  for (let d = days; d >= 0; d--) {
    const t = dayStart(d);
    const dk = new Date(t).toISOString().slice(0, 10);
    if (seenDays.size < keepDaily && !seenDays.has(dk)) {
      seenDays.add(dk);
      kept.add(d);
    }
    const wk = isoWeek(t);
    if (seenWeeks.size < keepWeekly && !seenWeeks.has(wk)) {
      seenWeeks.add(wk);
      kept.add(d);
    }
  }
}
const oldestKept = Math.min(...kept);
const retained: Record<string, number> = {};
{
  const keys = new Map<string, { size: number; zsize: number }>();
  for (const d of kept) for (const [rel, c] of manifests[d] ?? []) keys.set(`${rel}\0${c.hash}`, c);
  retained.whole = [...keys.values()].reduce((a, c) => a + c.size, 0);
  retained["whole+zstd"] = [...keys.values()].reduce((a, c) => a + c.zsize, 0);
  retained.floor = (rows[oldestKept]?.fullCompressed ?? 0) + rows.filter((r) => r.day > oldestKept).reduce((a, r) => a + r.floorDay, 0);
}
let clawbackStats: Record<string, unknown> | null = null;
for (const t of tools) {
  try {
    await t.retain(keepDaily, keepWeekly);
    retained[t.name] = t.storedBytes();
    if (t instanceof Clawback) clawbackStats = await t.stats();
  } catch (e) {
    notes.push(`${t.name}: retention failed: ${(e as Error).message.split("\n")[0]}`);
  }
}

// ---- report ----
const series: Record<string, number[]> = { floor: rows.map((r) => r.floor) };
for (const name of wanted) if (rows.some((r) => r.tools[name] !== undefined)) series[name] = rows.map((r) => r.tools[name] ?? NaN);
series.whole = rows.map((r) => r.wholeRaw);
series["whole+zstd"] = rows.map((r) => r.wholeZstd);

function fits(v: number[]): string {
  const first = v[0] ?? NaN;
  const last = v[v.length - 1] ?? NaN;
  if (!Number.isFinite(last)) return "n/a";
  if (first > FREE_TIER) return "0";
  const growth = (last - first) / Math.max(1, v.length - 1);
  if (growth <= 0) return "unbounded";
  return String(Math.floor((FREE_TIER - first) / growth) + 1);
}

const lines: string[] = [];
const p = (s = "") => {
  lines.push(s);
  console.log(s);
};
p();
p(`## Storage: ${days} days of a ${fmtBytes(rows[0]?.stateBytes ?? 0)} OpenClaw state (seed ${seed}, ${new Date().toISOString().slice(0, 10)}${clawbackVersion ? `, ${clawbackVersion}` : ""})`);
p();
p(`| | ${Object.keys(series).join(" | ")} |`);
p(`|---|${Object.keys(series).map(() => "---:").join("|")}|`);
for (const d of [0, 1, 7, 10, 14, 20, 30, days].filter((d, i, a) => d <= days && a.indexOf(d) === i)) {
  p(`| day ${d} | ${Object.values(series).map((v) => fmtBytes(v[d] ?? NaN)).join(" | ")} |`);
}
p(`| average per day | ${Object.values(series).map((v) => fmtBytes(((v[days] ?? NaN) - (v[0] ?? NaN)) / Math.max(1, days))).join(" | ")} |`);
p(`| daily snapshots in 10 GB | ${Object.values(series).map(fits).join(" | ")} |`);
p(`| kept under retention* | ${Object.keys(series).map((k) => fmtBytes(retained[k] ?? NaN)).join(" | ")} |`);
p();
p(`\\* retention: keep-daily ${keepDaily}, keep-weekly ${keepWeekly} (${kept.size} of ${days + 1} snapshots kept: days ${[...kept].sort((a, b) => a - b).join(", ")}), then prune/compact. ` +
  `Size of what stays stored after ${days} days; with a steady daily change this is the steady state. Floor under retention = full compressed state of day ${oldestKept} + the daily floors after it.`);
p();
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const targets: string[] = [];
for (const d of [10, days].filter((d, i, a) => d <= days && a.indexOf(d) === i)) {
  const cb = series.clawback?.[d];
  const rs = series.restic?.[d];
  const fl = series.floor?.[d];
  const r1 = ratio(cb, rs);
  const r2 = ratio(cb, fl);
  p(`day ${d}: clawback / restic = ${Number.isFinite(r1) ? r1.toFixed(3) : "n/a"}${d === 10 ? ` (target ≤ 0.35: ${Number.isFinite(r1) ? (r1 <= 0.35 ? "MET" : `MISSED by ${((r1 / 0.35 - 1) * 100).toFixed(0)}%`) : "not measured"})` : ""}; ` +
    `clawback / floor = ${Number.isFinite(r2) ? r2.toFixed(3) : "n/a"}${d === 10 ? ` (target ≤ 1.5: ${Number.isFinite(r2) ? (r2 <= 1.5 ? "MET" : `MISSED by ${((r2 / 1.5 - 1) * 100).toFixed(0)}%`) : "not measured"})` : ""}`);
  for (const peer of ["restic", "borg", "whole", "whole+zstd"]) {
    const r = ratio(series[peer]?.[d], fl);
    if (Number.isFinite(r)) targets.push(`day ${d}: ${peer} / floor = ${r.toFixed(2)}`);
  }
}
p(targets.join("; "));
{
  const by: Record<string, number> = {};
  for (const r of rows.slice(1)) for (const [k, v] of Object.entries(r.floorBy)) by[k] = (by[k] ?? 0) + v / Math.max(1, days);
  p(`average daily floor by kind: ${Object.entries(by).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmtBytes(v)}`).join(", ")}`);
}
if (notes.length) {
  p();
  for (const n of notes) p(`note: ${n}`);
}

const svg = lineChart({
  title: `Bytes stored, daily backups of a ${fmtBytes(rows[0]?.stateBytes ?? 0)} OpenClaw state`,
  xLabel: "days",
  yLabel: "bytes stored (GB)",
  yFormat: (v) => `${(v / 1e9).toFixed(v < 1e9 && v > 0 ? 1 : 0)} GB`,
  series: Object.entries(series).map(([name, v]) => ({ name, points: v.map((y, x) => [x, y] as [number, number]).filter(([, y]) => Number.isFinite(y)), dashed: name === "floor" })),
  hlines: [{ y: FREE_TIER, label: "B2 free tier: 10 GB" }],
});
writeFileSync(join(outDir, "storage.svg"), svg);
// Without the 10 GB line and the whole-file uploads, scaled to the rest, to read those curves apart.
writeFileSync(join(outDir, "storage-detail.svg"), lineChart({
  title: `Bytes stored (detail), daily backups of a ${fmtBytes(rows[0]?.stateBytes ?? 0)} OpenClaw state`,
  xLabel: "days",
  yLabel: "bytes stored",
  yFormat: (v) => fmtBytes(v),
  series: Object.entries(series).filter(([name]) => !name.startsWith("whole")).map(([name, v]) => ({ name, points: v.map((y, x) => [x, y] as [number, number]).filter(([, y]) => Number.isFinite(y)), dashed: name === "floor" })),
}));
writeFileSync(join(outDir, "storage.md"), lines.join("\n") + "\n");
writeFileSync(join(outDir, "storage.json"), JSON.stringify({ days, sizeMb, seed, clawbackVersion, keepDaily, keepWeekly, kept: [...kept].sort((a, b) => a - b), rows, retained, clawbackStats, notes }, null, 2));
console.log(`\nwrote ${join(outDir, "storage.svg")}, storage-detail.svg, storage.md, storage.json (${((Date.now() - t0) / 60000).toFixed(1)} min)`);
if (!keepWork) rmSync(work, { recursive: true, force: true });
