// A repository for the torture suites, driven through the real command in child processes, with
// everything a child touches kept under one base folder: the index caches, the scratch root
// (TMPDIR, so plaintext copies land where the test can look for leftovers instead of the shared
// /dev/shm) and the V8 code cache.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../src/engine/repository.ts";
import { FAST_SCRYPT } from "./repo.ts";
import type { RepoTarget } from "./targets.ts";
import { tempDir } from "./tree.ts";
import { childEnv, runCli, type CliRun } from "./cli-process.ts";

/** Distinctive, so a leak of it into output or the bucket is found by a plain search. */
const TORTURE_PASSPHRASE = "torture-Passphrase-5c1f7e93-do-not-leak";

export interface TortureRepo {
  url: string;
  base: string;
  /** The local repository folder (undefined on S3). */
  localDir: string | undefined;
  /** The index cache the commands use (per host when `host` is given to cli). */
  cacheDir(host?: string): string;
  /** Where commands make their scratch folders (their TMPDIR). */
  scratchRoot: string;
  env: NodeJS.ProcessEnv;
  /** Runs `clawback args… --repo URL --cache-dir …` (no --host unless given). */
  cli(args: string[], opts?: { killAfterMs?: number; host?: string; timeoutMs?: number }): Promise<CliRun>;
  /** The library on the same repository, with a cache of its own (for verification). */
  open(cacheLabel?: string): Promise<Repository>;
}

export async function makeTortureRepo(target: RepoTarget, opts: { passphrase?: string } = {}): Promise<TortureRepo> {
  const passphrase = opts.passphrase ?? TORTURE_PASSPHRASE;
  const base = await tempDir(`torture-${target.name}`);
  const url = await target.newUrl();
  const scratchRoot = path.join(base, "scratch-root");
  await fs.mkdir(scratchRoot);
  const backendEnv = target.backendOptions().env ?? {};
  const env = childEnv(base, { ...(backendEnv as Record<string, string>), CLAWBACK_PASSPHRASE: passphrase, TMPDIR: scratchRoot });
  const cacheDir = (host?: string) => path.join(base, host ? `cache-${host}` : "cache");
  // Init through the library: the same format, with cheap scrypt so each child opens quickly.
  await (await Repository.init(url, { passphrase, cacheDir: cacheDir("init"), scrypt: FAST_SCRYPT, backendOptions: target.backendOptions() })).close();
  return {
    url,
    base,
    localDir: target.name === "local" ? url : undefined,
    cacheDir,
    scratchRoot,
    env,
    cli(args, o = {}) {
      const hostArgs = o.host ? ["--host", o.host] : [];
      const withHost = args[0] === "commit" ? [...args, ...hostArgs] : args;
      return runCli([...withHost, "--repo", url, "--cache-dir", cacheDir(o.host)], {
        env,
        ...(o.killAfterMs !== undefined ? { killAfterMs: o.killAfterMs } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      });
    },
    open(cacheLabel = "verify") {
      return Repository.open(url, { passphrase, cacheDir: path.join(base, `cache-${cacheLabel}`), backendOptions: target.backendOptions() });
    },
  };
}
