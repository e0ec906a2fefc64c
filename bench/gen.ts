// Deterministic generator of an OpenClaw 2026.9-shaped state directory, for the benchmarks.
//
//   node bench/gen.ts init <dir> [--size 1.5GB | --size-mb N] [--daily-size 500MB] [--seed S]
//                                                           write day 0 (default 500 MB, seed "clawback";
//                                                           each day changes what a --daily-size state would)
//   node bench/gen.ts day <dir> [--day K]                    simulate one more day (default: the next)
//
// Same seed and same sequence of commands → the same bytes in every file.

import { generateInit, simulateDay } from "./gen/index.ts";
import { duBytes } from "./lib/fsutil.ts";
import { parseSize } from "./lib/args.ts";

function usage(): never {
  console.error("usage: node bench/gen.ts init <dir> [--size 1.5GB | --size-mb N] [--daily-size 500MB] [--seed S]\n       node bench/gen.ts day <dir> [--day K] [--days N]");
  process.exit(2);
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) usage();
  return v;
}

const [cmd, dir, ...rest] = process.argv.slice(2);
if (!cmd || !dir) usage();
const started = Date.now();
if (cmd === "init") {
  const size = flag(rest, "--size");
  const sizeBytes = size !== undefined ? parseSize(size) : Math.round(Number(flag(rest, "--size-mb") ?? 500) * 1024 * 1024);
  const daily = flag(rest, "--daily-size");
  const seed = flag(rest, "--seed") ?? "clawback";
  if (!(sizeBytes > 0)) usage();
  const meta = await generateInit(dir, { sizeBytes, ...(daily !== undefined ? { dailySizeBytes: parseSize(daily) } : {}), seed, log: (m) => console.error(`  ${((Date.now() - started) / 1000).toFixed(1)}s ${m}`) });
  console.log(`init ${dir}: seed ${meta.seed}, agents ${meta.agents.join(",")}, ${(duBytes(dir) / 1048576).toFixed(1)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} else if (cmd === "day") {
  const dayFlag = flag(rest, "--day");
  const days = Number(flag(rest, "--days") ?? 1);
  for (let i = 0; i < days; i++) {
    const s = await simulateDay(dir, dayFlag !== undefined && i === 0 ? { day: Number(dayFlag) } : {});
    console.log(`day ${s.day}: +${(s.transcriptBytes / 1024).toFixed(0)} KiB transcript, archived ${s.archived.length}, workspace ${s.workspaceChanged.length} changed / ${s.workspaceDeleted.length} deleted, media +${s.mediaAdded} -${s.mediaRemoved}${s.pluginUpdated ? `, plugin ${s.pluginUpdated} updated` : ""}`);
  }
  console.log(`${dir}: ${(duBytes(dir) / 1048576).toFixed(1)} MiB, ${((Date.now() - started) / 1000).toFixed(1)} s`);
} else usage();
