import { afterEach } from "vitest";
import * as fs from "node:fs/promises";
import { newRepo, type TestRepo } from "./repo.ts";
import { tempDir } from "./tree.ts";

export interface Scratch {
  /** A fresh temporary folder, removed after the test. */
  dir(label: string): Promise<string>;
  /** A fresh test repository (see newRepo), closed and removed after the test. */
  repo(opts?: Parameters<typeof newRepo>[0]): Promise<TestRepo>;
}

/** Temporary folders and repositories for the tests of one describe block, cleaned after each test. */
export function useScratch(): Scratch {
  const dirs: string[] = [];
  const repos: TestRepo[] = [];
  afterEach(async () => {
    for (const r of repos.splice(0)) await r.cleanup();
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });
  return {
    async dir(label) {
      const d = await tempDir(label);
      dirs.push(d);
      return d;
    },
    async repo(opts) {
      const r = await newRepo(opts);
      repos.push(r);
      return r;
    },
  };
}
