import * as fs from "node:fs/promises";
import { ScrubError } from "../../errors.ts";
import { readSqliteHeader, type CapturedDatabase } from "../sqlite/sqlite-capture.ts";
import { quickCheck } from "../sqlite/sqlite-check.ts";
import { captureInScratch, type ScratchDir } from "../sqlite/scratch-dir.ts";
import type { CommitScrub } from "../types.ts";

export { scrubTag, withScrubTag, withoutScrubTag } from "./scrub-tag.ts";

// How a commit applies a CommitScrub: to which files, how the stat cache and the listing memo
// tell scrubbed rows from others, and the scrubbed capture of a database.

/** What readContent applies to one file: the caller's scrub, bound to the file's path. */
export interface FileScrub {
  database?: (copyPath: string) => Promise<void> | void;
  rewrite?: (content: Buffer) => Uint8Array | undefined;
}

/** The scrub's functions for the file at `relPath`, or undefined when none applies. */
export function scrubFor(scrub: CommitScrub | undefined, relPath: string): FileScrub | undefined {
  if (!scrub) return undefined;
  const database = scrub.database?.bind(scrub);
  const file = scrub.file?.selects(relPath) ? scrub.file : undefined;
  if (!database && !file) return undefined;
  return {
    ...(database ? { database: (copyPath: string) => database(copyPath, relPath) } : {}),
    ...(file ? { rewrite: (content: Buffer) => file.rewrite(relPath, content) } : {}),
  };
}

/** True when the scrub changes what is stored of the file at `relPath` (a database when `sqlite`). */
export function scrubs(scrub: CommitScrub | undefined, relPath: string, sqlite: boolean): boolean {
  if (!scrub) return false;
  return sqlite ? scrub.database !== undefined : scrub.file?.selects(relPath) === true;
}

/**
 * Captures the database at `absPath` into the scratch folder and, when `scrub` is given, scrubs
 * the copy (nothing else has it open: its quick_check runs only when the caller asks, see
 * check-schedule.ts), then hands back a copy whose check is of the scrubbed file. A -wal left
 * beside the copy means the scrub's changes are not all in the file that is stored: refused.
 */
export async function captureForStore(absPath: string, scratch: ScratchDir, scrub: ((copyPath: string) => Promise<void> | void) | undefined): Promise<CapturedDatabase> {
  const copy = await captureInScratch(absPath, scratch, { deferCheck: true });
  if (!scrub) return copy;
  try {
    try {
      await scrub(copy.file);
    } catch (err) {
      throw new ScrubError(absPath, err instanceof Error ? err.message : String(err), { cause: err });
    }
    const wal = await fs.stat(`${copy.file}-wal`).catch(() => undefined);
    if (wal && wal.size > 0) throw new ScrubError(absPath, "changes were left in the copy's -wal (the scrub must checkpoint before it returns)");
    await Promise.all(["-wal", "-shm"].map((s) => fs.rm(copy.file + s, { force: true })));
    const header = await readSqliteHeader(copy.file).catch(() => undefined);
    if (!header) throw new ScrubError(absPath, "the scrubbed copy is no longer an SQLite database");
    let checked: Promise<void> | undefined;
    const check = () =>
      (checked ??= quickCheck(copy.file).then(
        (problems) => {
          if (problems.length !== 1 || problems[0] !== "ok") throw new ScrubError(absPath, `the scrubbed copy is damaged (quick_check: ${problems.join("; ")})`);
        },
        (err: unknown) => {
          throw new ScrubError(absPath, `the scrubbed copy cannot be checked: ${err instanceof Error ? err.message : String(err)}`);
        },
      ));
    return { file: copy.file, pageSize: header.pageSize, via: copy.via, check };
  } catch (err) {
    await Promise.all(["", "-wal", "-shm", "-journal"].map((s) => fs.rm(copy.file + s, { force: true })));
    throw err;
  }
}
