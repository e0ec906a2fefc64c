// Seeded edits of a tree between commits, so that successive snapshots differ a little (as a
// day's changes do) and prune has something to collect.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytesFrom } from "./tree.ts";

async function regularFiles(root: string, skip: (rel: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    const rel = path.relative(root, path.join(e.parentPath, e.name));
    if (e.isFile() && !skip(rel)) out.push(rel);
  }
  return out.sort();
}

/** Rewrites, adds and removes a few files (never one `skip` accepts, e.g. a live database). */
export async function mutateTree(root: string, rand: () => number, skip: (rel: string) => boolean = () => false): Promise<void> {
  const files = await regularFiles(root, skip);
  const pick = () => files[Math.floor(rand() * files.length)];
  for (let i = 0; i < 1 + Math.floor(rand() * 3); i++) {
    const rel = pick();
    if (rel) await fs.writeFile(path.join(root, rel), randomBytesFrom(rand, Math.floor(rand() * 200_000)));
  }
  await fs.writeFile(path.join(root, `new-${Math.floor(rand() * 1e9)}.bin`), randomBytesFrom(rand, Math.floor(rand() * 300_000)));
  const gone = pick();
  if (gone && rand() < 0.5) await fs.rm(path.join(root, gone), { force: true });
}
