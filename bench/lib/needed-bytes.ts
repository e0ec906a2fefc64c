// What a full checkout of one snapshot must download at least: the packed (compressed, sealed)
// bytes of every blob it needs (the listing's tree blobs, every file's chunks, and the base of
// each delta, transitively), taken from clawback's own index cache after a command synced it.
//
// The cache is read with a read-only connection and plain SQL rather than through IndexCache:
// opening IndexCache writes to the file (pragmas, schema version), and the bench's clawback may be
// a frozen copy of another version than this working tree's src/.

import Database from "better-sqlite3";
import { readdirSync } from "node:fs";
import { join } from "node:path";

export interface NeededBytes {
  /** Distinct blobs the snapshot needs (tree, content, delta bases). */
  blobs: number;
  /** Their sealed lengths in their packs, summed: the least a checkout can download. */
  blobBytes: number;
  /** Packs holding at least one of them, and those packs' whole sizes. */
  packs: number;
  packBytes: number;
  /** Blobs the index does not know (should be 0). */
  unknown: number;
}

/** The index cache file of the one repository whose cache lives under `cacheDir`. */
export function indexCacheFile(cacheDir: string): string {
  const repos = readdirSync(cacheDir, { withFileTypes: true }).filter((d) => d.isDirectory());
  if (repos.length !== 1) throw new Error(`expected one repository's cache under ${cacheDir}, found ${repos.length}`);
  return join(cacheDir, repos[0]!.name, "index.sqlite");
}

/**
 * `entries` is the snapshot's listing as `clawback ls <id> --json` prints it; the snapshot's tree
 * blobs come from its record in the cache.
 */
export function neededBytes(cacheFile: string, snapshotId: string, entries: readonly { chunks?: string[] }[]): NeededBytes {
  const db = new Database(cacheFile, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[string], { record: string }>("SELECT record FROM snapshots WHERE id = ?").get(snapshotId);
    if (!row) throw new Error(`snapshot ${snapshotId} is not in ${cacheFile}`);
    const tree = (JSON.parse(row.record) as { tree: string[] }).tree;
    const blobStmt = db.prepare<[string], { pack: string; length: number; base: string | null }>("SELECT pack, length, base FROM blobs WHERE id = ?");
    const packStmt = db.prepare<[string], { size: number }>("SELECT size FROM packs WHERE id = ?");
    const seen = new Set<string>();
    const packs = new Set<string>();
    let blobBytes = 0;
    let unknown = 0;
    const need = (id: string): void => {
      // A delta's base, and its base in turn: decoding the delta reads them too.
      for (let cur: string | null = id; cur !== null && !seen.has(cur); ) {
        seen.add(cur);
        const loc = blobStmt.get(cur);
        if (!loc) {
          unknown++;
          return;
        }
        blobBytes += loc.length;
        packs.add(loc.pack);
        cur = loc.base;
      }
    };
    for (const t of tree) need(t);
    for (const e of entries) for (const c of e.chunks ?? []) need(c);
    let packBytes = 0;
    for (const p of packs) packBytes += packStmt.get(p)?.size ?? 0;
    return { blobs: seen.size, blobBytes, packs: packs.size, packBytes, unknown };
  } finally {
    db.close();
  }
}

/** Every pack the index knows, with its size (for check --read-data: was each read once, whole?). */
export function packSizes(cacheFile: string): Map<string, number> {
  const db = new Database(cacheFile, { readonly: true, fileMustExist: true });
  try {
    return new Map(db.prepare<[], { id: string; size: number }>("SELECT id, size FROM packs").all().map((r) => [r.id, r.size]));
  } finally {
    db.close();
  }
}
