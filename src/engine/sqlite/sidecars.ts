// SQLite's sidecar files, known by name: a walk leaves them out beside their database (a commit
// stores the database as one state, never its -wal or -shm). Kept apart from the capture, which a
// walk does not need.

// -wal, -shm, -journal (rollback journal), -wal2 (the wal2 journal mode), -mjXXXXXXXXX (super-journal
// of a multi-database transaction: "-mj", 6 hex digits, "9", 2 hex digits), and the directory the
// unix-dotfile VFS uses as a lock (<db>.lock; only recognized after a database-like extension so
// that files such as yarn.lock are not mistaken for one).
const SIDECAR = /^(.+?)(-wal|-wal2|-shm|-journal|-mj[0-9A-Fa-f]{6}9[0-9A-Fa-f]{2})$/;
const DOTLOCK = /^(.+\.(?:db|db3|sqlite|sqlite3))\.lock$/i;

/**
 * The name of the database a sidecar belongs to ("state.sqlite-wal" → "state.sqlite"), or
 * undefined when `name` is not a sidecar name. Only the last path component is looked at.
 */
export function sqliteSidecarBase(name: string): string | undefined {
  const base = name.slice(Math.max(name.lastIndexOf("/"), name.lastIndexOf("\\")) + 1);
  // Every sidecar name has a "-" or ends in ".lock": the walk asks this of every name it meets, and
  // the patterns' lazy match tried each split point of each (5 ms of a no-change commit here).
  if (!base.includes("-") && base.slice(-5).toLowerCase() !== ".lock") return undefined;
  const m = SIDECAR.exec(base) ?? DOTLOCK.exec(base);
  return m?.[1];
}

/**
 * True for -wal, -shm, -journal and the other lock/sidecar names SQLite creates beside a
 * database. Decided by the name alone: a caller that can afford a stat should also check that
 * `sqliteSidecarBase(name)` exists beside it and is a database (an ordinary file called
 * "travel-journal" matches the pattern too).
 */
export function isSqliteSidecar(name: string): boolean {
  return sqliteSidecarBase(name) !== undefined;
}

/**
 * True when `name` is a sidecar of a database that sits beside it in the same folder (`siblings`
 * are the folder's names), so "state.sqlite-wal" is skipped but a lone "travel-journal" is kept.
 */
export function isSidecarAmong(name: string, siblings: { has(name: string): boolean }): boolean {
  const base = sqliteSidecarBase(name);
  return base !== undefined && siblings.has(base);
}
