import { DatabaseSync } from "node:sqlite";
import { MACHINE_STATE_TABLE, secretMachineStateCondition, secretTables, type DatabaseKind } from "./secret-state.ts";

/**
 * Deletes OpenClaw's secret rows (see secret-state.ts) from a private copy of one of its databases,
 * so that none of their bytes is left in the file: secure_delete overwrites what is deleted with
 * zeros (the cells, the index entries, and each page freed, whole). Pages the live database had
 * freed before the capture still hold what was on them (an old device token, the overflow pages
 * of a row that was rewritten: OpenClaw does not delete securely), so the free pages are then
 * removed: `incremental_vacuum` moves pages from the end of the file into them and truncates the
 * file (OpenClaw's databases use incremental auto-vacuum; a database without auto-vacuum is
 * rebuilt by VACUUM instead, which moves every page). The WAL is checkpointed and truncated
 * before returning, so every change is in the main file. The schema stays as it was (empty
 * tables, not dropped), so the copy opens in OpenClaw as it is.
 *
 * Not covered: the unused bytes inside a page that is in use (a page the live database freed
 * and then reused keeps, past its new content, what it held before). Only VACUUM rewrites
 * those, and it would move every page on every backup (no page group would deduplicate).
 *
 * Only for a copy no one else has open: it writes. Runs on node:sqlite, the SQLite the engine
 * captures with (never a second SQLite library in the process). Tables the copy lacks (an older
 * OpenClaw) are skipped. Foreign keys are left off so that deleting a secret row never cascades
 * into rows that are not secret.
 */
export function scrubDatabase(copyPath: string, kind: DatabaseKind): void {
  const db = new DatabaseSync(copyPath, { enableForeignKeyConstraints: false });
  try {
    db.exec("PRAGMA secure_delete = ON");
    const existing = new Set(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((row) => String(row.name)));
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const table of secretTables(kind)) if (existing.has(table)) db.exec(`DELETE FROM ${quoteIdentifier(table)}`);
      if (kind === "global" && existing.has(MACHINE_STATE_TABLE)) db.exec(`DELETE FROM ${quoteIdentifier(MACHINE_STATE_TABLE)} WHERE ${secretMachineStateCondition()}`);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
    removeFreePages(db);
    checkpoint(db, copyPath);
  } finally {
    db.close();
  }
}

/** Leaves no free page in the file (see scrubDatabase). */
function removeFreePages(db: DatabaseSync): void {
  const free = Number(db.prepare("PRAGMA freelist_count").get()?.freelist_count ?? 0);
  if (free === 0) return;
  const autoVacuum = Number(db.prepare("PRAGMA auto_vacuum").get()?.auto_vacuum ?? 0);
  if (autoVacuum === 0) db.exec("VACUUM");
  else db.exec("PRAGMA incremental_vacuum");
  const left = Number(db.prepare("PRAGMA freelist_count").get()?.freelist_count ?? 0);
  if (left !== 0) throw new Error(`${left} free pages are left after vacuuming`);
}

/** Moves every page the WAL holds into the main file and empties the WAL (a rollback-journal database has nothing to do). */
export function checkpoint(db: DatabaseSync, file: string): void {
  const mode = String(db.prepare("PRAGMA journal_mode").get()?.journal_mode ?? "");
  if (mode.toLowerCase() !== "wal") return;
  const result = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
  if (Number(result?.busy) !== 0) throw new Error(`${file}: the WAL could not be checkpointed (busy)`);
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
