// What a restored tree must equal, for the torture suites. Plain files, folders and links are
// compared as describeTree sees them (content hash, mode, mtime, link target). SQLite databases
// are not: a commit stores one state a writer committed (DESIGN.md invariant 8), read through
// SQLite's backup API, so the restored bytes are a committed state, not the file's bytes. They
// are compared by checkWriterInvariants (integrity_check plus every row of every transaction up
// to the counter), and their -wal/-shm sidecars must never be restored.

import * as path from "node:path";
import { describeTree, type TreeItem } from "./tree.ts";
import { checkWriterInvariants } from "./sqlite-writer.ts";

export type Tree = Record<string, TreeItem>;

const SIDE_CARS = /-(wal|shm|journal)$/;

/** True for the live databases of a torture source (by name: they all end in .sqlite). */
export const isDatabase = (rel: string) => rel.endsWith(".sqlite");

/** The tree without databases and their sidecars: the part compared byte for byte. */
export function withoutDatabases(tree: Tree): Tree {
  const out: Tree = {};
  for (const [rel, item] of Object.entries(tree)) if (!isDatabase(rel) && !SIDE_CARS.test(rel)) out[rel] = item;
  return out;
}

export async function captureTree(root: string): Promise<Tree> {
  return withoutDatabases(await describeTree(root));
}

/** The first difference between two trees, or undefined when they are equal. */
export function treeDifference(actual: Tree, expected: Tree): string | undefined {
  for (const rel of Object.keys(expected).sort()) {
    if (!(rel in actual)) return `${rel} is missing`;
    const a = JSON.stringify(actual[rel]);
    const e = JSON.stringify(expected[rel]);
    if (a !== e) return `${rel} differs: ${a} instead of ${e}`;
  }
  for (const rel of Object.keys(actual).sort()) if (!(rel in expected)) return `${rel} should not be there`;
  return undefined;
}

/**
 * Checks a restored tree: equal to `expected` outside databases; each database in `databases`
 * present, without sidecars, and a committed state of the writer. Returns the first problem.
 */
export async function restoredTreeProblem(root: string, expected: Tree, databases: readonly string[]): Promise<string | undefined> {
  const all = await describeTree(root);
  for (const rel of Object.keys(all)) if (SIDE_CARS.test(rel) && isDatabase(rel.replace(SIDE_CARS, ""))) return `${rel}: a database sidecar was restored`;
  const diff = treeDifference(withoutDatabases(all), expected);
  if (diff) return diff;
  for (const db of databases) {
    if (!(db in all)) return `${db} (database) is missing`;
    try {
      checkWriterInvariants(path.join(root, db));
    } catch (err) {
      return `${db} is not a committed state: ${(err as Error).message}`;
    }
  }
  return undefined;
}
