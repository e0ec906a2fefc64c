import * as fs from "node:fs/promises";
import { PathError, UsageError } from "../../errors.ts";
import { compileMatcher } from "../excludes.ts";
import { isSidecarAmong } from "../sqlite/sidecars.ts";
import type { Warning } from "../types.ts";
import { walkTree, type WalkEntry } from "./walk.ts";

/**
 * The walk of a folder to commit (names and stats, no content), begun as soon as it is made. It
 * needs no key, so a caller that makes it before opening the repository has the folder walked
 * while scrypt unwraps the key on the thread pool (a no-change commit of the bench state went
 * from 0.87–0.93 s to 0.79–0.83 s with it).
 */
export class SourceScan {
  readonly excludes: readonly string[];
  /** The folder's real path; rejects with a PathError when it is missing or not a folder. */
  readonly root: Promise<string>;
  /** The entries, the walk's warnings, and when the walk began (every stat in it is that recent or more). */
  readonly walked: Promise<{ entries: WalkEntry[]; warnings: Warning[]; startedMs: number }>;

  /** What was done to the folder before the walk (an interrupted checkout recovered), for the commit to report. */
  readonly notices: Promise<Warning[]>;

  /** `prepare`: work on the folder that must finish before it is walked (recovery), and what it reports. */
  constructor(dir: string, excludes: readonly string[] = [], prepare?: Promise<Warning[]>) {
    this.excludes = [...excludes];
    this.notices = prepare ?? Promise.resolve([]);
    this.root = this.notices.then(() => resolveSourceRoot(dir));
    this.walked = this.root.then(async (root) => {
      const warnings: Warning[] = [];
      const startedMs = Date.now();
      const entries = await walkTree(root, compileMatcher(this.excludes), isSidecarAmong, (w) => warnings.push(w));
      return { entries, warnings, startedMs };
    });
    // Whoever uses the scan awaits these; a scan made and then not used (the repository failed to
    // open) must not end the process with an unhandled rejection.
    this.root.catch(() => {});
    this.notices.catch(() => {});
    this.walked.catch(() => {});
  }

  /** Throws unless this scan is of `dir` with exactly `excludes`: a commit must not store another folder's walk. */
  async assertFor(dir: string, excludes: readonly string[]): Promise<void> {
    const [mine, theirs] = await Promise.all([this.root, resolveSourceRoot(dir)]);
    if (mine !== theirs) throw new UsageError(`the scan passed to commit is of ${JSON.stringify(mine)}, not of ${JSON.stringify(theirs)}`);
    if (excludes.length !== this.excludes.length || excludes.some((e, i) => e !== this.excludes[i])) {
      throw new UsageError(`the scan passed to commit was made with excludes ${JSON.stringify(this.excludes)}, the commit has ${JSON.stringify(excludes)}`);
    }
  }
}

async function resolveSourceRoot(dir: string): Promise<string> {
  let st;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new PathError(dir, "folder does not exist");
  }
  if (!st.isDirectory()) throw new PathError(dir, "not a folder");
  return fs.realpath(dir);
}
