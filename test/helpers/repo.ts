import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository, type InitOptions } from "../../src/engine/repository.ts";
import type { Backend } from "../../src/storage/backend.ts";
import { openBackend } from "../../src/storage/open.ts";
import { localTarget, type RepoTarget } from "./targets.ts";
import { tempDir } from "./tree.ts";

export const PASSPHRASE = "correct horse battery staple";

/** Cheap scrypt for tests that open many repositories; the format check keeps N ≥ 2^14. */
export const FAST_SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

export interface TestRepo {
  repo: Repository;
  url: string;
  cacheDir: string;
  /** The repository's storage, straight (to inspect or damage objects). */
  raw: Backend;
  /** Opens the same repository again (optionally with a fresh cache folder). */
  reopen(opts?: Partial<InitOptions>): Promise<Repository>;
  cleanup(): Promise<void>;
}

/** A new repository on `target` (default: a local folder), with its own index cache folder. */
export async function newRepo(opts: Partial<InitOptions> & { target?: RepoTarget } = {}): Promise<TestRepo> {
  const { target = localTarget(), ...initOpts } = opts;
  const url = await target.newUrl();
  const cacheDir = await tempDir("cache");
  const init: InitOptions = { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT, backendOptions: target.backendOptions(), ...initOpts };
  const repo = await Repository.init(url, init);
  const raw = await openBackend(url, target.backendOptions());
  const opened: Repository[] = [repo];
  return {
    repo,
    url,
    cacheDir,
    raw,
    async reopen(more = {}) {
      const r = await Repository.open(url, { ...init, ...more });
      opened.push(r);
      return r;
    },
    async cleanup() {
      for (const r of opened) await r.close().catch(() => {});
      await raw.close();
      await fs.rm(cacheDir, { recursive: true, force: true });
      if (target.name === "local") await fs.rm(path.dirname(url), { recursive: true, force: true });
    },
  };
}

/** Keys of every object under a prefix, sorted. */
export async function objectKeys(backend: Backend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const obj of backend.list(prefix)) keys.push(obj.key);
  return keys.sort();
}

/** Total bytes stored under a prefix ("" for the whole repository). */
export async function storedBytes(backend: Backend, prefix = ""): Promise<number> {
  let n = 0;
  for await (const obj of backend.list(prefix)) n += obj.size;
  return n;
}

/** Flips one bit of an object in place, as a failing disk or a tampering bucket owner would. */
export async function flipByte(backend: Backend, key: string, at: (size: number) => number): Promise<void> {
  const bytes = Buffer.from(await backend.get(key));
  const i = at(bytes.length);
  bytes[i] = bytes[i]! ^ 0x40;
  await backend.put(key, bytes);
}
