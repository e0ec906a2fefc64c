// SQLite's primary result codes (an error's `errcode` & 0xff) that the capture and restore act on.

export const SQLITE_PERM = 3;
export const SQLITE_BUSY = 5;
export const SQLITE_LOCKED = 6;
export const SQLITE_READONLY = 8;
export const SQLITE_IOERR = 10;
export const SQLITE_CORRUPT = 11;
export const SQLITE_FULL = 13;
export const SQLITE_CANTOPEN = 14;
export const SQLITE_NOTADB = 26;

/** The primary result code of an error node:sqlite threw, or undefined for any other error. */
export function sqliteCode(err: unknown): number | undefined {
  const code = (err as { errcode?: unknown } | undefined)?.errcode;
  return typeof code === "number" && code > 0 ? code & 0xff : undefined;
}
