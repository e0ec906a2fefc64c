// Applies a restored tree (checked out and verified in a staging folder) onto a live state folder
// whose databases a running gateway holds open (DESIGN.md, "Restoring under a running gateway"):
//   - databases are written INTO the live files through SQLite's backup API (never cp/mv over an
//     open database: that corrupts it), after a copy of each live database's current content is
//     taken the same way, so a failure part-way can write the old content back;
//   - other files replace the live ones by rename (atomic per file), the old ones moved aside;
//   - on a whole restore, live files the snapshot does not have are moved aside too, except what
//     `keep` matches (what backups leave out: secrets, caches, runtime locks) and databases (a
//     live database is never moved while open).
// Any failure puts every moved file back and every written database's old content back, then
// throws: the state folder is as it was. Runs in the engine child (it opens live databases).

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { backup } from "node:sqlite";
import { openLiveDatabase, restoreIntoLiveDatabase, type Matcher } from "../../lib.ts";

export interface ApplyPlan {
  /** The restored tree (a staging folder on the state folder's file system). */
  tree: string;
  /** The live state folder. */
  target: string;
  /** Paths (relative, "/"-separated) of the tree that are SQLite databases. */
  databases: ReadonlySet<string>;
  /** Whole restore: live files the snapshot lacks are moved aside (except `keep`). */
  whole: boolean;
  /** Every path the snapshot has (for a whole restore's "not in the snapshot" test). */
  inSnapshot?: ReadonlySet<string>;
  /** Live paths a whole restore leaves alone. */
  keep?: Matcher;
  /** A folder of ours on the same file system, for old files and database pre-images. */
  work: string;
  /**
   * Called with a staged database and its live counterpart just before the one is written into
   * the other: rows kept from now are read from the live database here, so that what the gateway
   * writes to them meanwhile (a lease heartbeat every few seconds) is not lost.
   */
  beforeWrite?: (rel: string, staged: string, live: string) => void;
}

export interface ApplyResult {
  databases: string[];
  files: number;
  removed: string[];
  /** Live databases the snapshot does not have: left in place (never moved while open). */
  keptDatabases: string[];
}

const SIDECAR = /-(?:wal|shm|journal)$/;

export async function applyStaged(plan: ApplyPlan): Promise<ApplyResult> {
  const { tree, target, work } = plan;
  const treeFiles = await walk(tree);
  const dbs = treeFiles.filter((f) => plan.databases.has(f.rel));
  const files = treeFiles.filter((f) => !plan.databases.has(f.rel));

  const oldDir = path.join(work, "old");
  const beforeDir = path.join(work, "before");
  const moved: [from: string, to: string][] = [];
  const written: { rel: string; before: string | undefined }[] = [];
  const result: ApplyResult = { databases: [], files: 0, removed: [], keptDatabases: [] };

  try {
    // Databases first: the step most likely to be refused (a writer holding its lock), before
    // any file has moved.
    for (const db of dbs) {
      const live = path.join(target, db.rel);
      let before: string | undefined;
      if (await exists(live)) {
        before = path.join(beforeDir, db.rel);
        await fs.mkdir(path.dirname(before), { recursive: true });
        await preImage(live, before);
      } else {
        await fs.mkdir(path.dirname(live), { recursive: true });
      }
      // Marked before writing: a write that fails half-way is undone as well.
      written.push({ rel: db.rel, before });
      if (before) plan.beforeWrite?.(db.rel, path.join(tree, db.rel), live);
      await restoreIntoLiveDatabase(path.join(tree, db.rel), live);
      result.databases.push(db.rel);
    }

    if (plan.whole && plan.inSnapshot) {
      for (const f of await walk(target, plan.keep)) {
        if (plan.inSnapshot.has(f.rel) || SIDECAR.test(f.rel)) continue;
        if (await isDatabase(path.join(target, f.rel))) {
          result.keptDatabases.push(f.rel);
          continue;
        }
        await move(path.join(target, f.rel), path.join(oldDir, f.rel), moved);
        result.removed.push(f.rel);
      }
    }

    for (const f of files) {
      const live = path.join(target, f.rel);
      const existing = await fs.lstat(live).catch(() => undefined);
      if (existing?.isDirectory()) throw new Error(`${live} is a folder in the live state and a file in the snapshot`);
      if (existing) await move(live, path.join(oldDir, f.rel), moved);
      await move(path.join(tree, f.rel), live, moved);
      result.files++;
    }
    return result;
  } catch (err) {
    await undo(moved, written, target);
    throw err;
  }
}

async function undo(moved: [string, string][], written: { rel: string; before: string | undefined }[], target: string): Promise<void> {
  for (const [from, to] of moved.reverse()) await fs.rename(to, from).catch(() => {});
  for (const w of written.reverse()) {
    // A database that did not exist before keeps the restored content: it cannot be removed
    // while the gateway may have opened it, and nothing of the machine's was in it.
    if (w.before) await restoreIntoLiveDatabase(w.before, path.join(target, w.rel)).catch(() => {});
  }
}

/** The live database's current content, through SQLite (consistent while others write). */
async function preImage(live: string, dest: string): Promise<void> {
  const db = openLiveDatabase(live, live, { readOnly: true, timeout: 5_000 });
  try {
    await backup(db, dest);
  } finally {
    db.close();
  }
}

async function move(from: string, to: string, moved: [string, string][]): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.rename(from, to);
  moved.push([from, to]);
}

interface TreeFile {
  rel: string;
}

/** Every non-folder entry under `root` (files and links), skipping what `skip` matches. */
async function walk(root: string, skip?: Matcher): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  async function visit(rel: string): Promise<void> {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (skip?.matches(p, e.isDirectory())) continue;
      if (e.isDirectory()) await visit(p);
      else out.push({ rel: p });
    }
  }
  await visit("");
  return out.sort((a, b) => a.rel.localeCompare(b.rel));
}

/** By its name: the gateway's databases end in .sqlite (headers are not read: the file may be open). */
async function isDatabase(p: string): Promise<boolean> {
  return /\.sqlite$/.test(p) || (await exists(`${p}-wal`));
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}
