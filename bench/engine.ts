// Commit / re-commit / checkout throughput of the engine on a local repository, each phase in its
// own process so peak RSS is that phase's alone.
//   node bench/engine.ts [--size-mb 500] [--dir /tmp/clawback-bench-engine]
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createCipheriv, createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Repository } from "../src/engine/repository.ts";

const PASS = "bench passphrase";

async function phase(kind: string, repoUrl: string, cacheDir: string, arg: string): Promise<void> {
  const repo = await Repository.open(repoUrl, { passphrase: PASS, cacheDir });
  const t0 = performance.now();
  let bytes = 0;
  if (kind === "commit") bytes = (await repo.commit(arg)).snapshot.stats.bytes;
  else bytes = (await repo.checkout("latest", arg, { safetySnapshot: false })).bytes;
  const seconds = (performance.now() - t0) / 1000;
  await repo.close();
  process.stdout.write(JSON.stringify({ seconds, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}

/** A tree shaped like a state folder: many small text files, some large logs, some incompressible media. */
async function generate(root: string, sizeMb: number): Promise<void> {
  const stream = (seed: string, n: number) => createCipheriv("aes-128-ctr", createHash("sha256").update(seed).digest().subarray(0, 16), Buffer.alloc(16)).update(Buffer.alloc(n));
  const words = "the agent said that memory chunk session transcript tool call result workspace note compaction summary user assistant".split(" ");
  const text = (seed: number, n: number) => {
    let s = "";
    let x = seed;
    while (s.length < n) {
      x = (x * 1103515245 + 12345) >>> 0;
      s += words[x % words.length] + (x % 13 === 0 ? ".\n" : " ");
    }
    return s.slice(0, n);
  };
  const target = sizeMb * 1024 * 1024;
  let made = 0;
  let i = 0;
  while (made < target) {
    const dir = path.join(root, `agent-${i % 5}`, `folder-${i % 37}`);
    await fs.mkdir(dir, { recursive: true });
    const kind = i % 10;
    const size = kind < 6 ? 2_000 + (i * 7919) % 60_000 : kind < 9 ? 1_000_000 + (i * 104729) % 4_000_000 : 8_000_000;
    const data = kind === 9 ? stream(`media-${i}`, size) : Buffer.from(text(i, size));
    await fs.writeFile(path.join(dir, kind === 9 ? `media-${i}.bin` : `file-${i}.jsonl`), data);
    made += size;
    i++;
  }
}

function runPhase(kind: string, repo: string, cache: string, arg: string): { seconds: number; bytes: number; maxRssMb: number } {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--phase", kind, "--repo", repo, "--cache", cache, "--arg", arg], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${kind} failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as { seconds: number; bytes: number; maxRssMb: number };
}

const { values } = parseArgs({ options: { "size-mb": { type: "string" }, dir: { type: "string" }, phase: { type: "string" }, repo: { type: "string" }, cache: { type: "string" }, arg: { type: "string" } } });
if (values.phase) {
  await phase(values.phase, values.repo!, values.cache!, values.arg!);
} else {
  const base = values.dir ?? "/tmp/clawback-bench-engine";
  const sizeMb = Number(values["size-mb"] ?? 500);
  await fs.rm(base, { recursive: true, force: true });
  const src = path.join(base, "src");
  const repoUrl = path.join(base, "repo");
  const cache = path.join(base, "cache");
  await generate(src, sizeMb);
  await (await Repository.init(repoUrl, { passphrase: PASS, cacheDir: cache })).close();
  const mb = (r: { bytes: number; seconds: number }) => r.bytes / 1024 / 1024 / r.seconds;
  const first = runPhase("commit", repoUrl, cache, src);
  const again = runPhase("commit", repoUrl, cache, src);
  const out = runPhase("checkout", repoUrl, cache, path.join(base, "restored"));
  const repoBytes = Number(spawnSync("du", ["-sb", repoUrl], { encoding: "utf8" }).stdout.split("\t")[0]);
  console.log(`tree: ${(first.bytes / 1024 / 1024).toFixed(0)} MiB; repository: ${(repoBytes / 1024 / 1024).toFixed(0)} MiB`);
  console.log(`| phase | time | throughput | peak RSS |`);
  console.log(`|---|---|---|---|`);
  console.log(`| initial commit | ${first.seconds.toFixed(2)} s | ${mb(first).toFixed(0)} MiB/s | ${first.maxRssMb.toFixed(0)} MB |`);
  console.log(`| no-change re-commit | ${again.seconds.toFixed(2)} s | — | ${again.maxRssMb.toFixed(0)} MB |`);
  console.log(`| full checkout | ${out.seconds.toFixed(2)} s | ${mb(out).toFixed(0)} MiB/s | ${out.maxRssMb.toFixed(0)} MB |`);
  await fs.rm(base, { recursive: true, force: true });
}
