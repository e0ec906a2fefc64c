// Puts the live database's current rows of some tables into a restored copy before that copy is
// written into the live database: what a rollback keeps from now (kept-from-now.ts). Runs in the
// engine child only (it opens the live database through node:sqlite, read-only).

import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { DatabaseSync } from "node:sqlite";

export interface CarriedTable {
  table: string;
  /** Rows now in the copy (the live database's), or 0 when the live database has no such table. */
  rows: number;
}

/**
 * In the database file `copy` (a staged restore, no other connection), replaces the rows of each
 * table in `tables` with those of `live`. Columns are matched by name, so a copy from an older
 * schema takes what it has columns for. Tables the copy does not have are skipped; a table the
 * live database does not have is emptied (it holds nothing now). One transaction: all or none.
 */
export function carryRows(copy: string, live: string, tables: readonly string[]): CarriedTable[] {
  const db = new DatabaseSync(path.resolve(copy), { timeout: 5_000 });
  const liveUrl = pathToFileURL(path.resolve(live));
  liveUrl.search = "mode=ro";
  const out: CarriedTable[] = [];
  try {
    db.prepare("ATTACH DATABASE ? AS live").run(liveUrl.href);
    try {
      const copyTables = tableNames(db, "main");
      const liveTables = tableNames(db, "live");
      db.exec("BEGIN IMMEDIATE");
      try {
        for (const table of tables) {
          if (!copyTables.has(table)) continue;
          const q = quote(table);
          db.exec(`DELETE FROM main.${q}`);
          if (!liveTables.has(table)) {
            out.push({ table, rows: 0 });
            continue;
          }
          const liveCols = new Set(columns(db, "live", table));
          const shared = columns(db, "main", table).filter((c) => liveCols.has(c)).map(quote).join(", ");
          const r = db.prepare(`INSERT INTO main.${q} (${shared}) SELECT ${shared} FROM live.${q}`).run();
          out.push({ table, rows: Number(r.changes) });
        }
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    } finally {
      db.exec("DETACH DATABASE live");
    }
  } finally {
    db.close();
  }
  return out;
}

function tableNames(db: DatabaseSync, schema: string): Set<string> {
  return new Set(db.prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table'`).all().map((r) => String(r.name)));
}

function columns(db: DatabaseSync, schema: string, table: string): string[] {
  return db.prepare(`SELECT name FROM pragma_table_info(?, ?)`).all(table, schema).map((r) => String(r.name));
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
