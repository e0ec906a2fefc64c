// What a killed clawback process may leave behind, and must not for long: plaintext scratch
// folders (src/engine/sqlite/scratch-dir.ts names them clawback-scratch-<pid>-*) and partial pack
// files of the local backend (data/**/<id>.tmp-*).

import * as fs from "node:fs/promises";
import * as path from "node:path";

/** Whether a process with this id is running (EPERM: it is, but not ours). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Scratch folders under `root` whose process is gone. */
export async function deadScratchFolders(root: string): Promise<string[]> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  return names.filter((name) => {
    const m = /^clawback-scratch-(\d+)-/.exec(name);
    return m !== null && !isAlive(Number(m[1]));
  });
}

/** Partial pack files under a local repository's data/ folder. */
export async function partialPacks(repoDir: string): Promise<string[]> {
  const entries = await fs.readdir(path.join(repoDir, "data"), { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => path.basename(e).includes(".tmp-")).map((e) => path.join("data", e));
}

/**
 * Dates the partial packs back by `ageMs`, as if their commits had died that long ago: prune keeps
 * young ones (a commit in progress may still rename them), and a test that wants them collected
 * must not depend on the exact grace period.
 */
export async function ageFiles(repoDir: string, files: readonly string[], ageMs: number): Promise<void> {
  const t = (Date.now() - ageMs) / 1000;
  for (const f of files) await fs.utimes(path.join(repoDir, f), t, t).catch(() => {});
}
