import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository, type InitOptions } from "../../src/engine/repository.ts";
import { tempDir } from "./tree.ts";

export const PASSPHRASE = "correct horse battery staple";

/** Cheap scrypt for tests that open many repositories; the format check keeps N ≥ 2^14. */
export const FAST_SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

export interface TestRepo {
  repo: Repository;
  url: string;
  cacheDir: string;
  /** Opens the same repository again (optionally with a fresh cache folder). */
  reopen(opts?: Partial<InitOptions>): Promise<Repository>;
  cleanup(): Promise<void>;
}

/** A new repository in a temporary folder (or at `url`), with its own index cache folder. */
export async function newRepo(opts: Partial<InitOptions> & { url?: string } = {}): Promise<TestRepo> {
  const base = await tempDir("repo");
  const url = opts.url ?? path.join(base, "repo");
  const cacheDir = path.join(base, "cache");
  const init = { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT, ...opts };
  const repo = await Repository.init(url, init);
  const opened: Repository[] = [repo];
  return {
    repo,
    url,
    cacheDir,
    async reopen(more = {}) {
      const r = await Repository.open(url, { ...init, ...more });
      opened.push(r);
      return r;
    },
    async cleanup() {
      for (const r of opened) await r.close().catch(() => {});
      await fs.rm(base, { recursive: true, force: true });
    },
  };
}
