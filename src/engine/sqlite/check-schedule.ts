// When a captured database gets its quick_check, and what a snapshot can say about its databases.
//
// quick_check reads every page (about 0.6 s of CPU for a 500 MB OpenClaw state's databases), so it
// no longer runs on every commit: at most once a day per database, and then only when the database
// changed (an unchanged database is not captured at all). The index cache remembers, per database,
// the content that was last checked (a digest of its chunk ids) and whether it passed; a snapshot
// whose databases all hold content that passed is marked so, and retention keeps the newest such
// snapshot (maintenance/forget.ts). The cache is only a cache: without it every changed database is
// checked again.

import { createHash } from "node:crypto";
import type { DatabaseCheck } from "../../index/cache.ts";
import type { SqliteCheckRecord } from "../../repo/snapshot.ts";

/** A database is checked again once its last check is this old (and it changed). */
export const QUICK_CHECK_INTERVAL_MS: number = 24 * 60 * 60 * 1000;

/** Identifies a database's stored content: a digest of its chunk ids, in order. */
export function contentDigest(chunks: readonly string[]): string {
  const h = createHash("sha256");
  for (const id of chunks) h.update(id).update("\n");
  return h.digest("hex");
}

/**
 * True when a database that is being captured now should be quick_checked: it never was, its last
 * check failed (so a repaired database is seen as soon as it changes), or that check is a day old.
 */
export function checkDue(last: DatabaseCheck | undefined, nowMs: number): boolean {
  return !last || !last.passed || nowMs - last.checkedMs >= QUICK_CHECK_INTERVAL_MS || nowMs < last.checkedMs;
}

/** The outcome of one database's quick_check in this commit. */
export interface CheckOutcome {
  passed: boolean;
  /** What SQLite reported, when it failed. */
  problem?: string;
}

/** Collects, database by database, what a commit's snapshot record says about their checks. */
export class SnapshotChecks {
  private databases = 0;
  private passed = 0;
  private readonly failed: string[] = [];
  /** Check results of this commit, recorded in the cache once its snapshot is stored. */
  readonly results: { path: string; check: DatabaseCheck }[] = [];

  /**
   * One database of the snapshot, stored as `chunks`; `ran`: its quick_check in this commit, if it
   * ran; `last`: the cache's record of its last check.
   */
  add(path: string, chunks: readonly string[], ran: CheckOutcome | undefined, last: DatabaseCheck | undefined, nowMs: number): void {
    this.addContent(path, contentDigest(chunks), ran, last, nowMs);
  }

  /** As add, for a database whose content digest (contentDigest of its chunks) is known. */
  addContent(path: string, content: string, ran: CheckOutcome | undefined, last: DatabaseCheck | undefined, nowMs: number): void {
    this.databases++;
    if (ran) {
      this.results.push({ path, check: { content, checkedMs: nowMs, passed: ran.passed } });
      if (ran.passed) this.passed++;
      else this.failed.push(path);
    } else if (last && last.content === content) {
      if (last.passed) this.passed++;
      else this.failed.push(path);
    }
  }

  record(): SqliteCheckRecord {
    return { databases: this.databases, passed: this.passed, failed: [...this.failed] };
  }
}

/** True when every database of a snapshot holds content that passed quick_check. */
export function databasesPassed(check: SqliteCheckRecord | undefined): boolean {
  return check !== undefined && check.failed.length === 0 && check.passed === check.databases;
}
