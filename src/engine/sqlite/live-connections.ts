// The live databases this process has open through SQLite. Closing any plain descriptor of a
// database file drops every POSIX lock the process holds on it, those of its SQLite connections
// included (DESIGN.md, "One process, one set of locks"): a read through plain descriptors
// (wal-capture.ts) must not happen while such a connection is open. Every connection the library
// and the plugin open to a database that other processes may use is opened by openLiveDatabase,
// which records the file (device and inode) until the connection is closed.

import { statSync } from "node:fs";
import { DatabaseSync, type DatabaseSyncOptions } from "node:sqlite";

/** Open connections per file, keyed by device and inode. */
const connections = new Map<string, number>();

const keyOf = (dev: bigint, ino: bigint) => `${dev}:${ino}`;

/**
 * `new DatabaseSync(location, options)` for the database file `file` (`location` may be a URL of
 * it with query parameters), recorded until its close() returns.
 */
export function openLiveDatabase(file: string, location: string | URL, options: DatabaseSyncOptions): DatabaseSync {
  const db = new DatabaseSync(location, options);
  // Opening is lazy (no lock before the first statement), so recording after it is in time. A
  // file that cannot be statted is one SQLite could not have opened either.
  const st = statSync(file, { bigint: true, throwIfNoEntry: false });
  if (!st) return db;
  const key = keyOf(st.dev, st.ino);
  connections.set(key, (connections.get(key) ?? 0) + 1);
  const close = db.close.bind(db);
  let recorded = true;
  Object.defineProperty(db, "close", {
    value: () => {
      try {
        close();
      } finally {
        if (recorded) {
          recorded = false;
          const left = (connections.get(key) ?? 1) - 1;
          if (left > 0) connections.set(key, left);
          else connections.delete(key);
        }
      }
    },
  });
  return db;
}

/** True when this process has the file (device, inode) open through openLiveDatabase. */
export function openedHere(dev: bigint, ino: bigint): boolean {
  return connections.has(keyOf(dev, ino));
}
