// Speed bench: the same generated OpenClaw state, clawback, restic and borg in one run — initial
// commit, no-change re-commit, one-day incremental commit, full checkout. Wall time and peak RSS,
// medians of several runs. See bench/README.md.
//
//   node bench/speed.ts [--size 500MB | 1.5GB] [--daily-size 500MB] [--runs 3] [--seed clawback]
//                       [--tools clawback,restic,borg] [--work DIR] [--out bench/out] [--keep-work]
//
// --size is the generated state's size (--size-mb N still works); --daily-size the size whose daily
// change volume the simulated day writes, 500 MB by default, so that runs at 500 MB and 1.5 GB
// change the same bytes a day. Every figure is printed as a ratio to restic and to borg ("n/a" for
// a tool that is missing or failed).

import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { generateInit, simulateDay } from "./gen/index.ts";
import { duBytes, fileCreationMicros, fmtBytes } from "./lib/fsutil.ts";
import { syncMirror } from "./lib/mirror.ts";
import { describeClawback, freezeClawback, hasGnuTime, makeTool, REPO_ROOT, toolAvailability, which, type RunResult, type Tool } from "./lib/tools.ts";
import { arg, parseSize } from "./lib/args.ts";

const sizeBytes = process.argv.includes("--size") ? parseSize(arg("size", "500MB")) : Math.round(Number(arg("size-mb", "500")) * 1024 * 1024);
const sizeMb = sizeBytes / (1024 * 1024);
const dailySizeBytes = parseSize(arg("daily-size", "500MB"));
const runs = Number(arg("runs", "3"));
const seed = arg("seed", "clawback");
const outDir = resolve(arg("out", join(REPO_ROOT, "bench", "out")));
const work = resolve(arg("work", join(outDir, "work-speed")));
const wanted = arg("tools", "clawback,restic,borg").split(",").filter(Boolean);
const keepWork = process.argv.includes("--keep-work");
const clawbackLive = process.argv.includes("--clawback-live");

const OPS = ["initial", "no-change", "daily", "checkout"] as const;
type Op = (typeof OPS)[number];
/** clawback's wall time as a fraction of restic's, at most (issue 17; the daily target is 0.3× from 1.5 GB on). */
const TIME_TARGETS: Record<Op, number> = { initial: 0.6, "no-change": 0.25, daily: sizeBytes >= 1.5 * 1024 ** 3 ? 0.3 : 0.4, checkout: 0.7 };
/** Tools every figure is compared with; a missing one prints "n/a". */
const PEERS = ["restic", "borg"] as const;
const RSS_TARGET = 1.5;

const notes: string[] = [];
const availability = toolAvailability();
const names = wanted.filter((n) => {
  const why = availability[n];
  if (why) notes.push(`${n}: skipped, ${why}`);
  return !why;
});
const results: Record<string, Record<Op, RunResult[]>> = {};
const restored: Record<string, number> = {};
/** Per run: µs per file and folder created just before the checkouts (fileCreationMicros). */
const creationProbe: number[] = [];
for (const n of names) results[n] = { initial: [], "no-change": [], daily: [], checkout: [] };

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(outDir, { recursive: true });
const clawbackVersion = names.includes("clawback") ? (clawbackLive ? describeClawback() + " (live working tree)" : freezeClawback(join(work, "clawback-frozen"))) : "";
const base = join(work, "base");
const t0 = Date.now();
console.log(`generating ${fmtBytes(sizeBytes)} state, daily change of a ${fmtBytes(dailySizeBytes)} state (seed ${seed}) ...`);
await generateInit(base, { sizeBytes, dailySizeBytes, seed });
const stateBytes = duBytes(base);
console.log(`  ${fmtBytes(stateBytes)} in ${((Date.now() - t0) / 1000).toFixed(0)} s; tools: ${names.join(", ")}${hasGnuTime ? "" : " (peak RSS by polling /proc: install `time` for exact numbers)"}`);
for (const n of notes) console.log(`  ${n}`);
// Per run: the state and its mirror, three repositories and three restores, about 8× the state.
const needed = runs * 8 * stateBytes;
const fsInfo = statfsSync(work);
if (fsInfo.bavail * fsInfo.bsize < needed) console.log(`  warning: ${fmtBytes(fsInfo.bavail * fsInfo.bsize)} free under ${work}, the runs keep about ${fmtBytes(needed)} until the end`);

const failed = new Set<string>();
async function step(tool: Tool, op: Op, fn: () => Promise<RunResult>): Promise<void> {
  if (failed.has(tool.name)) return;
  // Write back what earlier steps left dirty (repositories, restores, the generated day), untimed:
  // otherwise whichever step runs next pays for it in throttled writes, which made one tool's
  // checkout 2 s slower in one run and not the next.
  execFileSync("sync");
  try {
    const r = await fn();
    results[tool.name]?.[op].push(r);
    console.log(`    ${tool.name.padEnd(9)} ${op.padEnd(10)} ${(r.wallMs / 1000).toFixed(2).padStart(8)} s ${fmtBytes(r.peakRss).padStart(10)} RSS ${(r.cpuMs / 1000).toFixed(2).padStart(7)} s CPU`);
  } catch (e) {
    failed.add(tool.name);
    notes.push(`${tool.name}: ${op} failed, dropped: ${(e as Error).message.split("\n").slice(0, 3).join(" | ")}`);
    console.log(`    ${notes[notes.length - 1]}`);
  }
}

for (let run = 1; run <= runs; run++) {
  console.log(`run ${run}/${runs}`);
  // Each run keeps its own folder until the bench ends (about 4.5 GB a run): nothing is deleted
  // between the generation and the last checkout. On ext4 without a journal, creating files in
  // the minute after a large deletion is several times slower (the inode allocator skips every
  // recently freed inode), which made each checkout's time depend on what the bench had deleted
  // just before it rather than on the tool.
  const dir = join(work, `run-${run}`);
  mkdirSync(dir, { recursive: true });
  const state = join(dir, "state");
  const mirror = join(dir, "mirror");
  execFileSync("cp", ["-a", base, state]);
  syncMirror(state, mirror);
  // Rotate the order between runs so no tool always runs first (page cache, CPU boost).
  const order = names.map((_, i) => names[(i + run - 1) % names.length] ?? "").map((n) => makeTool(n, join(dir, n)));
  for (const t of order) {
    if (failed.has(t.name)) continue;
    mkdirSync(join(dir, t.name), { recursive: true });
    try {
      await t.init();
    } catch (e) {
      failed.add(t.name);
      notes.push(`${t.name}: init failed, dropped: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    const src = t.name === "clawback" ? state : mirror;
    await step(t, "initial", () => t.backup(src));
    await step(t, "no-change", () => t.backup(src));
  }
  await simulateDay(state);
  syncMirror(state, mirror);
  for (const t of order) await step(t, "daily", () => t.backup(t.name === "clawback" ? state : mirror));
  // How dear file creation is here and now: the checkouts' times depend on it (see bench/README.md).
  creationProbe.push(fileCreationMicros(join(dir, "creation-probe")));
  console.log(`    file creation probe: ${creationProbe[creationProbe.length - 1]!.toFixed(0)} µs per file`);
  const targets = order.map((t) => join(dir, `restore-${t.name}`));
  for (const [i, t] of order.entries()) {
    await step(t, "checkout", () => t.restore(targets[i]!));
    if (!failed.has(t.name)) restored[t.name] = duBytes(targets[i]!);
  }
}

// ---- report ----
function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}
const med = (n: string, op: Op, k: "wallMs" | "peakRss" | "cpuMs") => median((results[n]?.[op] ?? []).map((r) => r[k]));
const secs = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "n/a");
const verdict = (ratio: number, target: number) => (!Number.isFinite(ratio) ? "not measured" : ratio <= target ? `MET (${ratio.toFixed(2)}× ≤ ${target}×)` : `MISSED by ${((ratio / target - 1) * 100).toFixed(0)}% (${ratio.toFixed(2)}× > ${target}×)`);

const lines: string[] = [];
const p = (s = "") => {
  lines.push(s);
  console.log(s);
};
const cpuModel = cpus()[0]?.model ?? "?";
p();
p(`## Speed: ${fmtBytes(stateBytes)} OpenClaw state, median of ${runs} runs (${cpus().length} cores, ${cpuModel}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; restic ${which("restic") ? execFileSync("restic", ["version"], { encoding: "utf8" }).split(" ")[1] : "-"}, borg ${which("borg") ? execFileSync("borg", ["--version"], { encoding: "utf8" }).trim().split(" ")[1] : "-"}; ${clawbackVersion ? `${clawbackVersion}; ` : ""}${new Date().toISOString().slice(0, 10)})`);
p();
const ratio = (op: Op, k: "wallMs" | "peakRss", peer: string) => {
  const r = med("clawback", op, k) / med(peer, op, k);
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : "n/a";
};
p(`| operation | ${names.map((n) => `${n} time | ${n} peak RSS`).join(" | ")} | ${PEERS.map((n) => `time / ${n} | RSS / ${n}`).join(" | ")} |`);
p(`|---|${names.map(() => "---:|---:").join("|")}|${PEERS.map(() => "---:|---:").join("|")}|`);
for (const op of OPS) {
  p(`| ${op} | ${names.map((n) => `${secs(med(n, op, "wallMs"))} | ${fmtBytes(med(n, op, "peakRss"))}`).join(" | ")} | ${PEERS.map((n) => `${ratio(op, "wallMs", n)} | ${ratio(op, "peakRss", n)}`).join(" | ")} |`);
}
p();
p("Targets (clawback against restic):");
for (const op of OPS) p(`- ${op} time ≤ ${TIME_TARGETS[op]}× restic: ${verdict(med("clawback", op, "wallMs") / med("restic", op, "wallMs"), TIME_TARGETS[op])}`);
for (const op of OPS) p(`- ${op} peak RSS ≤ ${RSS_TARGET}× restic: ${verdict(med("clawback", op, "peakRss") / med("restic", op, "peakRss"), RSS_TARGET)}`);
p(`- cross-size targets (daily at 1.5 GB ≤ 1.5× daily at 500 MB; peak RSS +20 % at most): compare this run's speed.json with the other size's`);
p();
// Bytes and requests (issue 17): this bench drives each tool's CLI against a local folder and does
// not count requests; bench/engine.ts counts them per phase against S3.
p("Requests and downloaded bytes (full checkout's bytes against the packed bytes it needs, check --read-data's pack reads, class B transactions of a daily commit and a checkout): not collected by this bench (local repositories, no request counter); n/a.");
p();
// Where the time goes, as far as the process's own accounting tells: a run can be no shorter than
// its CPU time spread over every core, so a target under that bound cannot be met by overlapping
// the same work better, only by doing less of it.
const cores = cpus().length;
if (names.includes("clawback") && names.includes("restic") && Number.isFinite(med("clawback", "initial", "cpuMs"))) {
  p(`CPU time (user + system, medians) against the time each target allows (${cores} cores; bound = CPU time / ${cores}):`);
  p();
  p("| operation | clawback CPU | restic CPU | clawback bound | clawback time | target time | target vs bound |");
  p("|---|---:|---:|---:|---:|---:|---|");
  for (const op of OPS) {
    const cpu = med("clawback", op, "cpuMs");
    const bound = cpu / cores;
    const allowed = TIME_TARGETS[op] * med("restic", op, "wallMs");
    const verdictText = allowed < bound ? `below the bound by ${secs(bound - allowed)}: needs less work, not more overlap` : `above the bound: cores stand idle for the equivalent of ${secs(med("clawback", op, "wallMs") - bound)} of the run`;
    p(`| ${op} | ${secs(cpu)} | ${secs(med("restic", op, "cpuMs"))} | ${secs(bound)} | ${secs(med("clawback", op, "wallMs"))} | ${secs(allowed)} | ${verdictText} |`);
  }
  p();
}
p(`Restored bytes (last run): ${names.map((n) => `${n} ${fmtBytes(restored[n] ?? NaN)}`).join(", ")}. ` +
  "clawback reads the live state (WAL databases captured through SQLite's backup API); restic and borg read a consistent mirror made beforehand, untimed.");
p();
p(`File creation just before the checkouts (2,000 empty files in 200 new folders, per run): ${creationProbe.map((us) => `${us.toFixed(0)} µs`).join(", ")} per file. ` +
  "On this project's machine (ext4 without a journal) it is about 20 µs, and 100–300 µs in the tens of minutes after many files were deleted nearby; every checkout pays it for each of its 9,500 files and 3,100 folders.");
for (const n of notes) p(`note: ${n}`);
writeFileSync(join(outDir, "speed.md"), lines.join("\n") + "\n");
writeFileSync(join(outDir, "speed.json"), JSON.stringify({ sizeMb, sizeBytes, dailySizeBytes, runs, seed, clawbackVersion, stateBytes, creationProbeMicros: creationProbe, results: Object.fromEntries(Object.entries(results).map(([n, ops]) => [n, Object.fromEntries(Object.entries(ops).map(([op, rs]) => [op, rs.map((r) => ({ wallMs: r.wallMs, peakRss: r.peakRss, cpuMs: r.cpuMs }))]))])), restored, notes }, null, 2));
console.log(`\nwrote ${join(outDir, "speed.md")}, speed.json (${((Date.now() - t0) / 60000).toFixed(1)} min)`);
if (!keepWork) rmSync(work, { recursive: true, force: true });
