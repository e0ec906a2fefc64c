// Where a clawback command's time goes: runs the CLI once under V8's sampling profiler (every
// thread: the main one, the codec worker, the quick_check worker) and prints, per thread, its busy,
// idle and garbage-collection time, the project's modules by time spent in them (inclusive), and the
// functions with the most time of their own.
//
//   node bench/profile.ts [--top 15] -- <clawback arguments>
//   e.g. node bench/profile.ts -- commit ~/state --repo /tmp/repo --cache-dir /tmp/cache
//
// It runs the compiled CLI (dist/, as users run it; made here when missing) with the passphrase in
// CLAWBACK_PASSPHRASE. The profile files stay in a temporary folder whose name it prints.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const sep = process.argv.indexOf("--");
if (sep < 0) {
  console.error("usage: node bench/profile.ts [--top N] -- <clawback arguments>");
  process.exit(2);
}
const own = process.argv.slice(2, sep);
const topAt = own.indexOf("--top");
const top = topAt >= 0 ? Number(own[topAt + 1]) : 15;
const args = process.argv.slice(sep + 1);

if (!existsSync(join(ROOT, "dist", "cli", "main.js"))) execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
const dir = mkdtempSync(join(tmpdir(), "clawback-profile-"));
const started = performance.now();
const run = spawnSync(process.execPath, ["--cpu-prof", "--cpu-prof-dir", dir, join(ROOT, "bin", "clawback.js"), ...args], { stdio: ["ignore", "inherit", "inherit"] });
console.log(`\nexit ${run.status}, ${((performance.now() - started) / 1000).toFixed(2)} s; profiles in ${dir}`);

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(6)} ms`;
const where = (f: Frame) => {
  const at = f.url.indexOf("/dist/");
  return at >= 0 ? f.url.slice(at + 6) : f.url.replace(/^node:/, "node:").split("/").slice(-1)[0] || "(native)";
};

for (const file of readdirSync(dir).sort()) {
  const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const modules = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(p.samples[i]!)!;
    const name = node.callFrame.functionName;
    if (name === "(idle)") idle += dt;
    if (name === "(garbage collector)") gc += dt;
    const key = `${name || "(anonymous)"}  ${where(node.callFrame)}:${node.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    // Each project module on the stack counts once per sample.
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      if (f.url.includes("/dist/") && !seen.has(where(f))) {
        seen.add(where(f));
        modules.set(where(f), (modules.get(where(f)) ?? 0) + dt);
      }
    }
  }
  console.log(`\n== ${file}: ${ms(total)} sampled, busy ${ms(total - idle)}, idle ${ms(idle)}, garbage collection ${ms(gc)}`);
  console.log("  project modules, time with them on the stack:");
  for (const [k, v] of [...modules].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(v)}  ${k}`);
  console.log("  functions, time of their own:");
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(v)}  ${k}`);
}
