// The torture suites' verdict on a repository: `check` and `check --read-data` pass, and every
// listed snapshot restores to exactly the tree it was taken of (see expected-tree.ts).

import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Repository } from "../../src/engine/repository.ts";
import { restoredTreeProblem, type Tree } from "./expected-tree.ts";

export interface ExpectedSnapshot {
  tree: Tree;
  /** Databases in the tree, compared as committed states. */
  databases: string[];
}

/**
 * Problems found, empty when the repository is sound. `work` is a folder for the restores.
 * `quickCheck: false` runs only `check --read-data` (which checks all that `check` does, and
 * reads the packs), for tests that verify many times; `restores: false` leaves out the restores
 * (for a cache whose restores another cache has shown).
 */
export async function repositoryProblems(repo: Repository, expected: ReadonlyMap<string, ExpectedSnapshot>, work: string, opts: { quickCheck?: boolean; restores?: boolean } = {}): Promise<string[]> {
  const problems: string[] = [];
  if (opts.quickCheck !== false) {
    const quick = await repo.check();
    if (!quick.ok) problems.push(`check: ${quick.errors.join("; ")}`);
  }
  const full = await repo.check({ readData: true });
  if (!full.ok) problems.push(`check --read-data: ${full.errors.join("; ")}`);
  for (const snap of await repo.log()) {
    const want = expected.get(snap.id);
    if (!want) {
      problems.push(`snapshot ${snap.id.slice(0, 12)} (${snap.reason}) was never taken by this test`);
      continue;
    }
    if (opts.restores === false) continue;
    const dir = path.join(work, `restore-${snap.id.slice(0, 12)}`);
    try {
      await repo.checkout(snap.id, dir, { safetySnapshot: false });
      const problem = await restoredTreeProblem(dir, want.tree, want.databases);
      if (problem) problems.push(`snapshot ${snap.id.slice(0, 12)} (${snap.reason}) restores wrongly: ${problem}`);
    } catch (err) {
      problems.push(`snapshot ${snap.id.slice(0, 12)} (${snap.reason}) does not restore: ${(err as Error).message}`);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return problems;
}
