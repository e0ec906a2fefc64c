import * as fs from "node:fs/promises";
import type { FileStat } from "../../index/cache.ts";
import type { EntryStat } from "./walk.ts";

// How a commit tells that a file may have changed since its stat-cache row (or the listing memo)
// was written. Kept apart from the source reader, which a commit that reads nothing never loads.

/** Stat fields that change whenever a file's content may have changed. */
export function statKey(st: EntryStat): FileStat {
  return { size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
}

/**
 * A WAL-mode database can change while its main file's stat does not (the change sits in the
 * -wal file), so a database's stat key also covers its -wal sidecar: its size, mtime and inode.
 * Not its ctime: SQLite running as root re-chowns the -wal on every open, our own capture
 * included, which would make every database look changed on every commit.
 */
export async function databaseStatKey(absPath: string, st: EntryStat): Promise<FileStat> {
  const base = statKey(st);
  const wal = await fs.stat(`${absPath}-wal`, { bigint: true }).catch(() => undefined);
  if (!wal) return base;
  return { ...base, mtimeNs: `${base.mtimeNs}+${wal.mtimeNs}:${wal.size}:${wal.ino}` };
}

export const sameStat = (a: FileStat, b: FileStat) => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
