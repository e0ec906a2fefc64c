import * as fs from "node:fs";
import * as path from "node:path";
import type { ProgressSink } from "../types.ts";
import { holderOwner, isLegacyOldHolder, journalPath, processAlive } from "./holders.ts";
import { removeEmptyFolders, SwapJournal } from "./swap-journal.ts";

/** What recovering a checkout target did. */
export interface RecoveryReport {
  /** The target, as an absolute path. */
  target: string;
  /**
   * "none": no interrupted swap; "finished": an interrupted checkout's swap was completed (the
   * restored tree is in place); "undone": one was stopped before it changed the target (the
   * previous tree stays); "restored-old": the target was missing and the previous tree, set aside
   * by an interrupted swap, was put back.
   */
  swap: "none" | "finished" | "undone" | "restored-old";
  /** Staging and holder folders of processes that are gone, removed. */
  removed: string[];
}

/** Folders this process writes into now (not stale, though their pid is alive: it is ours). */
const inUse = new Set<string>();

/** Marks a holder folder as in use by this process until `release` (recovery leaves it alone). */
export function claimHolder(p: string): () => void {
  inUse.add(p);
  return () => inUse.delete(p);
}

/**
 * Invariant 11: puts a checkout target interrupted by a crash back in order, before anything else
 * touches it. An interrupted swap is finished from its journal (or undone, when it had not moved
 * anything yet); staging and holder folders whose process is gone are removed, except a previous
 * tree while the target is missing, which is put back in its place. Each action is reported
 * through `progress.warn`. Needs no repository: the plugin calls it at startup, any checkout and
 * commit of the folder call it first.
 */
export async function recoverTarget(targetDir: string, progress?: ProgressSink): Promise<RecoveryReport> {
  const target = path.resolve(targetDir);
  const parent = path.dirname(target);
  const report: RecoveryReport = { target, swap: "none", removed: [] };
  const say = (message: string) => progress?.warn?.({ path: target, message });
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return report; // no parent folder: nothing was ever staged beside this target
  }

  const journal = SwapJournal.open(journalPath(target));
  if (journal) {
    const first = journal.plan.moves[0];
    const there = (rel: string) => fs.lstatSync(path.join(parent, rel), { throwIfNoEntry: false }) !== undefined; // a dangling link is there too
    // Untouched: no move recorded, and the first not made either (its source there, its destination not).
    const untouched = journal.movesDone === 0 && (!first || (there(first.from) && !there(first.to)));
    if (journal.undoRequested || untouched) {
      journal.undoMoves();
      journal.discardUndone();
      report.swap = "undone";
      say(untouched ? "an interrupted checkout was undone before it changed anything: the folder is as it was" : "an interrupted checkout that had failed was undone: the folder is as it was");
    } else {
      journal.runMoves(true);
      journal.finish();
      report.swap = "finished";
      say("an interrupted checkout was finished: the restored snapshot is in place (the previous content is in the checkout's safety snapshot)");
    }
    names = fs.readdirSync(parent);
  }

  const targetMissing = !fs.existsSync(target);
  for (const name of names) {
    const abs = path.join(parent, name);
    const owner = holderOwner(target, name);
    const legacy = !owner && isLegacyOldHolder(target, name);
    if (!owner && !legacy) continue;
    if (owner && (inUse.has(abs) || (owner.pid !== process.pid && processAlive(owner.pid)))) continue;
    if ((legacy || owner?.kind === "old") && targetMissing && !fs.existsSync(target)) {
      // Never delete a previous tree while the target is missing: it may be the only copy.
      fs.renameSync(abs, target);
      report.swap = "restored-old";
      say(`the folder was missing after an interrupted checkout; its previous content was put back from ${name}`);
      continue;
    }
    if (owner?.kind === "staging") {
      // A staging folder without a journal holds a copy of a snapshot, nothing else.
      fs.rmSync(abs, { recursive: true, force: true });
      report.removed.push(abs);
    } else if (removeEmptyFolders(abs)) {
      report.removed.push(abs); // what an undone swap's holder keeps: the folders its moves made
    } else {
      say(`a previous tree set aside by an interrupted checkout is kept at ${abs}; remove it when it is not needed`);
    }
  }
  if (report.removed.length) say(`removed ${report.removed.length} folder(s) left by interrupted checkouts: ${report.removed.map((p) => path.basename(p)).join(", ")}`);
  return report;
}
