// Commit / no-change re-commit / checkout of a generated ~500 MB tree, on a local folder and on
// S3 over loopback (the s3rver test server), each phase in its own process so peak RSS is that
// phase's alone. Prints times, throughput, peak RSS, requests per phase and the S3/local ratio.
//   node bench/engine.ts [--size-mb 500] [--backends local,s3] [--dir /tmp/clawback-bench-engine]
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { createCipheriv, createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Repository } from "../src/engine/repository.ts";
import type { RequestCounts } from "../src/storage/backend.ts";
import { startS3Server } from "../test/helpers/s3-server.ts";

const PASS = "bench passphrase";

interface PhaseResult {
  seconds: number;
  bytes: number;
  maxRssMb: number;
  requests: RequestCounts;
}

async function phase(kind: string, repoUrl: string, cacheDir: string, arg: string, env: Record<string, string>): Promise<void> {
  const repo = await Repository.open(repoUrl, { passphrase: PASS, cacheDir, backendOptions: { env } });
  const before = repo.requestCounts();
  const t0 = performance.now();
  const bytes = kind === "commit" ? (await repo.commit(arg)).snapshot.stats.bytes : (await repo.checkout("latest", arg, { safetySnapshot: false })).bytes;
  const seconds = (performance.now() - t0) / 1000;
  const after = repo.requestCounts();
  await repo.close();
  const requests = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof RequestCounts]])) as unknown as RequestCounts;
  process.stdout.write(JSON.stringify({ seconds, bytes, maxRssMb: process.resourceUsage().maxRSS / 1024, requests } satisfies PhaseResult));
}

/** A tree shaped like a state folder: many small text files, some large logs, some incompressible media. */
async function generate(root: string, sizeMb: number): Promise<void> {
  const noise = (seed: string, n: number) => createCipheriv("aes-128-ctr", createHash("sha256").update(seed).digest().subarray(0, 16), Buffer.alloc(16)).update(Buffer.alloc(n));
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
  for (let i = 0; made < target; i++) {
    const dir = path.join(root, `agent-${i % 5}`, `folder-${i % 37}`);
    await fs.mkdir(dir, { recursive: true });
    const kind = i % 10;
    const size = kind < 6 ? 2_000 + ((i * 7919) % 60_000) : kind < 9 ? 1_000_000 + ((i * 104729) % 4_000_000) : 8_000_000;
    await fs.writeFile(path.join(dir, kind === 9 ? `media-${i}.bin` : `file-${i}.jsonl`), kind === 9 ? noise(`media-${i}`, size) : Buffer.from(text(i, size)));
    made += size;
  }
}

function runPhase(kind: string, repo: string, cache: string, arg: string, env: Record<string, string>): PhaseResult {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--phase", kind, "--repo", repo, "--cache", cache, "--arg", arg, "--env", JSON.stringify(env)], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${kind} failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as PhaseResult;
}

const reqs = (r: RequestCounts) => `${r.put} PUT, ${r.get} GET, ${r.head} HEAD, ${r.list} LIST, ${r.delete} DELETE`;
const mbps = (r: PhaseResult) => r.bytes / 1024 / 1024 / r.seconds;

const { values } = parseArgs({
  options: {
    "size-mb": { type: "string" },
    dir: { type: "string" },
    backends: { type: "string" },
    phase: { type: "string" },
    repo: { type: "string" },
    cache: { type: "string" },
    arg: { type: "string" },
    env: { type: "string" },
  },
});

if (values.phase) {
  await phase(values.phase, values.repo!, values.cache!, values.arg!, JSON.parse(values.env ?? "{}") as Record<string, string>);
} else {
  const base = values.dir ?? "/tmp/clawback-bench-engine";
  const sizeMb = Number(values["size-mb"] ?? 500);
  const backends = (values.backends ?? "local,s3").split(",");
  await fs.rm(base, { recursive: true, force: true });
  const src = path.join(base, "src");
  await generate(src, sizeMb);
  const results: Record<string, { first: PhaseResult; again: PhaseResult; out: PhaseResult }> = {};
  for (const backend of backends) {
    const s3 = backend === "s3" ? await startS3Server() : undefined;
    try {
      const url = s3 ? s3.url("bench") : path.join(base, "repo");
      const env = s3?.env ?? {};
      const cache = path.join(base, `cache-${backend}`);
      await (await Repository.init(url, { passphrase: PASS, cacheDir: cache, backendOptions: { env } })).close();
      const first = runPhase("commit", url, cache, src, env);
      const again = runPhase("commit", url, cache, src, env);
      const out = runPhase("checkout", url, cache, path.join(base, `restored-${backend}`), env);
      results[backend] = { first, again, out };
      await fs.rm(path.join(base, `restored-${backend}`), { recursive: true, force: true });
    } finally {
      await s3?.stop();
    }
  }
  console.log(`tree: ${sizeMb} MiB generated (${Object.values(results)[0]!.first.bytes / 1024 / 1024 | 0} MiB committed)\n`);
  console.log(`| backend | phase | time | throughput | peak RSS | requests |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const [backend, r] of Object.entries(results)) {
    console.log(`| ${backend} | initial commit | ${r.first.seconds.toFixed(2)} s | ${mbps(r.first).toFixed(0)} MiB/s | ${r.first.maxRssMb.toFixed(0)} MB | ${reqs(r.first.requests)} |`);
    console.log(`| ${backend} | no-change re-commit | ${r.again.seconds.toFixed(2)} s | — | ${r.again.maxRssMb.toFixed(0)} MB | ${reqs(r.again.requests)} |`);
    console.log(`| ${backend} | full checkout | ${r.out.seconds.toFixed(2)} s | ${mbps(r.out).toFixed(0)} MiB/s | ${r.out.maxRssMb.toFixed(0)} MB | ${reqs(r.out.requests)} |`);
  }
  if (results.local && results.s3) {
    console.log(`\nS3 over loopback / local folder: commit ${(mbps(results.s3.first) / mbps(results.local.first)).toFixed(2)}x, checkout ${(mbps(results.s3.out) / mbps(results.local.out)).toFixed(2)}x (throughput ratio)`);
  }
  await fs.rm(base, { recursive: true, force: true });
}
