import * as fs from "node:fs";
import * as path from "node:path";
import { CheckoutInProgressError, CheckoutRecoveryError, PathError } from "../../errors.ts";
import { processAlive, processStartTime } from "./holders.ts";

// Invariant 11: a checkout's swap is a list of renames (the old tree aside, paths the target keeps
// into the new tree, the new tree in). A crash between two of them would leave the target missing
// or mixed, so the whole list is written to a journal beside the target before the first rename,
// and each rename is recorded after it is made. Whoever next touches the target replays the rest
// (see recover.ts): a journal exists only once the new tree is complete and verified, so finishing
// the swap is always possible, and it is what the interrupted command was doing.
//
// Journal: one line of JSON (the plan), then one line per finished move ("<index>"). A move
// finished but not yet recorded is recognised by its effect: its source is gone and its
// destination exists (nothing else moved in between).

/** One rename, both paths relative to the target's parent folder. */
export interface Move {
  from: string;
  to: string;
  /** A path the target keeps (a secret, a cache): gone by the time it is moved means nothing to move. */
  optional?: boolean;
}

export interface SwapPlan {
  version: 1;
  pid: number;
  /** When that process started (see processStartTime): a reused process id is not the swap's. */
  started?: string;
  /** The target's name in its parent. */
  target: string;
  /** Holder names (in the parent) removed once the moves are done. */
  staging: string;
  old: string;
  moves: Move[];
}

/** Swaps this process is making now, by journal path (a journal of this pid not in here is stale: the pid was reused). */
const active = new Set<string>();

/**
 * Test-only: CLAWBACK_TEST_CRASH_AT lists steps (comma-separated) at which the process kills
 * itself (SIGKILL), or, for `fail-<step>`, fails as a rename would, to prove recovery and undo.
 */
export function crashPoint(step: string): void {
  const steps = process.env.CLAWBACK_TEST_CRASH_AT?.split(",");
  if (!steps) return;
  if (steps.includes(step)) process.kill(process.pid, "SIGKILL");
  if (steps.includes(`fail-${step}`)) throw new Error(`test-injected failure at ${step}`);
}

export class SwapJournal {
  readonly file: string;
  readonly parent: string;
  readonly plan: SwapPlan;
  private done: number;
  private fd: number | undefined;
  /** Set once the swap failed and its moves are being undone (recovery then undoes, never finishes). */
  private undoing: boolean;

  private constructor(file: string, plan: SwapPlan, done: number, undoing: boolean, fd?: number) {
    this.file = file;
    this.parent = path.dirname(file);
    this.plan = plan;
    this.done = done;
    this.undoing = undoing;
    this.fd = fd;
  }

  /** Writes the plan (durably) before any move; refused when another swap into the target is under way. */
  static begin(file: string, plan: Omit<SwapPlan, "version" | "pid">): SwapJournal {
    const started = processStartTime(process.pid);
    const full: SwapPlan = { version: 1, pid: process.pid, ...(started ? { started } : {}), ...plan };
    let fd: number;
    try {
      fd = fs.openSync(file, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new CheckoutInProgressError(`another checkout into ${path.join(path.dirname(file), plan.target)} is swapping its files in (journal ${file})`);
      throw err;
    }
    active.add(file);
    fs.writeSync(fd, `${JSON.stringify(full)}\n`);
    fs.fsyncSync(fd);
    return new SwapJournal(file, full, 0, false, fd);
  }

  /**
   * The journal an interrupted swap left, or undefined when there is none (or only its first line
   * was being written: then no move was made, and the journal is removed). Throws
   * CheckoutInProgressError when its process is still running.
   */
  static open(file: string): SwapJournal | undefined {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    const newline = text.indexOf("\n");
    let plan: SwapPlan | undefined;
    try {
      plan = newline < 0 ? undefined : (JSON.parse(text.slice(0, newline)) as SwapPlan);
    } catch {
      plan = undefined;
    }
    if (!plan || plan.version !== 1 || !Array.isArray(plan.moves)) {
      fs.rmSync(file, { force: true });
      return undefined;
    }
    if (active.has(file) || (plan.pid !== process.pid && swapperAlive(plan))) {
      throw new CheckoutInProgressError(`a checkout into ${path.join(path.dirname(file), plan.target)} (process ${plan.pid}) is swapping its files in; try again when it is done`);
    }
    const lines = text.slice(newline + 1).split("\n");
    return new SwapJournal(file, plan, lines.filter((l) => /^\d+$/.test(l)).length, lines.includes("undo"));
  }

  get movesDone(): number {
    return this.done;
  }

  /** True when the swap failed and was being undone. */
  get undoRequested(): boolean {
    return this.undoing;
  }

  private abs(rel: string): string {
    return path.join(this.parent, rel);
  }

  /**
   * Makes the moves not yet made, in order, recording each. In recovery, a move already made but
   * not recorded is recognised by its effect and skipped.
   */
  runMoves(recovering: boolean): void {
    const moves = this.plan.moves;
    for (let i = this.done; i < moves.length; i++) {
      const move = moves[i]!;
      const from = this.abs(move.from);
      const to = this.abs(move.to);
      const fromThere = exists(from);
      if (!fromThere && (exists(to) || move.optional)) {
        this.record(i);
        continue;
      }
      // A swap never renames onto something: in recovery a destination that exists means the
      // target was made again after the crash; it is not ours to replace.
      if (recovering && exists(to)) {
        throw new CheckoutRecoveryError(to, `cannot finish the interrupted checkout: this path exists again; the restored tree is in ${this.abs(this.plan.staging)}, the previous one in ${this.abs(this.plan.old)} (journal ${this.file})`);
      }
      if (!fromThere) {
        if (recovering) throw new CheckoutRecoveryError(from, `cannot finish the interrupted checkout: this path is gone (journal ${this.file})`);
        throw new PathError(from, "disappeared while the checkout was swapping it in");
      }
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.renameSync(from, to);
      crashPoint(`swap-move-${i}`);
      this.record(i);
    }
    crashPoint("swap-moved");
  }

  /**
   * Undoes the moves made, newest first (a swap that failed half-way), recording first that it
   * does, so recovery from a crash in the middle undoes the rest rather than finishing. A move is
   * recognised as made by its effect (destination there, source gone), which holds whether or not
   * it was recorded and whether or not a crash interrupted an earlier undo.
   */
  undoMoves(): void {
    if (!this.undoing) {
      this.fd ??= fs.openSync(this.file, "a");
      fs.writeSync(this.fd, "undo\n");
      this.undoing = true;
    }
    const moves = this.plan.moves;
    for (let i = moves.length - 1; i >= 0; i--) {
      const move = moves[i]!;
      if (exists(this.abs(move.to)) && !exists(this.abs(move.from))) {
        fs.renameSync(this.abs(move.to), this.abs(move.from));
        crashPoint(`swap-undo-${i}`);
      }
    }
    this.done = 0;
  }

  /**
   * After an undo: the journal goes, then what is left of the holder (the folders the moves made
   * in it, empty; anything else there is kept) and the staging folder (the restored tree alone:
   * every kept path went back).
   */
  discardUndone(): void {
    this.discard();
    removeEmptyFolders(this.abs(this.plan.old));
    fs.rmSync(this.abs(this.plan.staging), { recursive: true, force: true });
  }

  /** Removes what the swap set aside, then the journal: the last step, so a crash before it is recovered again. */
  finish(): void {
    fs.rmSync(this.abs(this.plan.old), { recursive: true, force: true });
    crashPoint("swap-old-removed");
    fs.rmSync(this.abs(this.plan.staging), { recursive: true, force: true });
    this.close();
    fs.rmSync(this.file, { force: true });
  }

  /** Leaves the journal on disk for recovery, this process done with it. */
  abandon(): void {
    this.close();
  }

  /** Forgets the swap without touching the tree (after the moves were undone). */
  discard(): void {
    this.close();
    fs.rmSync(this.file, { force: true });
  }

  private record(i: number): void {
    this.fd ??= fs.openSync(this.file, "a");
    fs.writeSync(this.fd, `${i}\n`);
    this.done = i + 1;
  }

  private close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    active.delete(this.file);
  }
}

/** True when the process that wrote the plan still runs (its id alive, and started when it did). */
function swapperAlive(plan: SwapPlan): boolean {
  if (!processAlive(plan.pid)) return false;
  const started = processStartTime(plan.pid);
  return plan.started === undefined || started === undefined || started === plan.started;
}

/** Removes `dir` and the folders under it that hold nothing else; leaves any file where it is. */
export function removeEmptyFolders(dir: string): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return !exists(dir);
  }
  let empty = true;
  for (const e of entries) {
    if (!e.isDirectory() || !removeEmptyFolders(path.join(dir, e.name))) empty = false;
  }
  if (empty) fs.rmdirSync(dir);
  return empty;
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
