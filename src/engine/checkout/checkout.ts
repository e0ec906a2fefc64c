import * as fs from "node:fs/promises";
import * as path from "node:path";
import { CheckoutRecoveryError, PathError, PathTooLongError, UsageError } from "../../errors.ts";
import { syncIndex } from "../../index/sync.ts";
import { acquireReadLock } from "../../repo/lock.ts";
import type { RepoContext } from "../context.ts";
import { commit } from "../commit/commit.ts";
import { compileMatcher, type Matcher } from "../excludes.ts";
import { isUnder } from "../listing.ts";
import { materialize } from "./materialize.ts";
import { holderPath, journalPath } from "./holders.ts";
import { claimHolder, recoverTarget } from "./recover.ts";
import { crashPoint, SwapJournal, type Move } from "./swap-journal.ts";
import { assertTargetAllowed, type Protected } from "./target-guard.ts";
import { loadListing, resolveSnapshot } from "../snapshots.ts";
import { isSidecarAmong } from "../sqlite/sqlite-capture.ts";
import type { CheckoutOptions, CheckoutResult, FileEntry } from "../types.ts";

const SQLITE_SIDECARS = ["-wal", "-shm", "-journal"];

/**
 * Checkout (invariant 5): a safety snapshot of a non-empty target, then everything is written and
 * verified in a staging folder beside the target, then swapped in by renames recorded in a journal
 * (invariant 11: a crash during the swap is finished by the next command, see recover.ts). Until
 * the swap the target is untouched; a failed swap is rolled back.
 */
export async function checkout(ctx: RepoContext, ref: string, targetDir: string, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  const target = path.resolve(targetDir);
  assertTargetAllowed(target, protectedPaths(ctx));
  try {
    return await checkoutInto(ctx, ref, target, opts);
  } catch (err) {
    // A name or path the file system finds too long, met anywhere (mkdtemp, a file in the staging folder).
    if ((err as NodeJS.ErrnoException).code === "ENAMETOOLONG") throw new PathTooLongError((err as NodeJS.ErrnoException).path ?? target, "name or path too long for the file system");
    throw err;
  }
}

/** What a checkout must never replace: the repository (when it is a local folder) and the index cache. */
function protectedPaths(ctx: RepoContext): Protected[] {
  const out: Protected[] = [];
  const location = ctx.backend.location;
  if (location.startsWith("file://")) out.push({ what: "the repository", path: location.slice("file://".length) });
  out.push({ what: "the index cache", path: path.dirname(ctx.cache.file) });
  return out;
}

async function checkoutInto(ctx: RepoContext, ref: string, target: string, opts: CheckoutOptions): Promise<CheckoutResult> {
  // Taken before the index is read: a prune that came between the reading and the packs' would
  // delete what the plan names.
  const lock = await acquireReadLock(ctx.backend, ctx.keys, "checkout", (message) => opts.progress?.warn?.({ path: ctx.backend.location, message }));
  try {
    return await checkoutLocked(ctx, ref, target, opts);
  } finally {
    await lock.release();
  }
}

async function checkoutLocked(ctx: RepoContext, ref: string, target: string, opts: CheckoutOptions): Promise<CheckoutResult> {
  await syncIndex(ctx.cache, ctx.backend, ctx.keys);
  const { id, record } = resolveSnapshot(ctx, ref);
  const all = await loadListing(ctx, record, id);
  const selected = opts.paths?.length ? selectPaths(all, opts.paths) : all;

  const parent = path.dirname(target);
  await recoverTarget(target, opts.progress);
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new PathError(target, "checkout target exists and is not a folder");
  await fs.mkdir(parent, { recursive: true });
  const nonEmpty = existing !== undefined && (await fs.readdir(target)).length > 0;

  let safetySnapshot: string | undefined;
  if (nonEmpty && opts.safetySnapshot !== false) {
    safetySnapshot = (await commit(ctx, target, { reason: "safety", excludes: record.excludes, tags: [`before-checkout:${id.slice(0, 12)}`], ...(opts.scrub ? { scrub: opts.scrub } : {}), ...(opts.progress ? { progress: opts.progress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })).snapshot.id;
  }

  const staging = holderPath(target, "staging");
  const release = claimHolder(staging);
  await fs.mkdir(staging, { mode: 0o700 });
  let keepStaging = false;
  try {
    const written = await materialize(ctx, selected, staging, { ...opts, alreadyRead: record.tree });
    crashPoint("staged");
    if (opts.paths?.length) await swapPaths(staging, target, topLevel(opts.paths), selected);
    else {
      // The root folder's own mode: the snapshot's (recorded since rootMode exists), else the old
      // target's, else a new folder's. Owner rwx until the swap has moved kept paths into it.
      const rootMode = record.rootMode ?? (existing ? existing.mode & 0o7777 : 0o777 & ~process.umask());
      await fs.chmod(staging, rootMode | 0o700);
      await swapWhole(staging, target, existing !== undefined, compileMatcher(opts.keep ?? record.excludes), new Set(all.map((e) => e.path)));
      if ((rootMode | 0o700) !== rootMode) await fs.chmod(target, rootMode);
    }
    return { snapshot: id, ...(safetySnapshot ? { safetySnapshot } : {}), ...written };
  } catch (err) {
    // A swap that could not be undone left its journal: recovery needs the staging folder it names.
    if (err instanceof CheckoutRecoveryError) keepStaging = true;
    throw err;
  } finally {
    if (!keepStaging) await fs.rm(staging, { recursive: true, force: true });
    release();
  }
}

function normalizeRel(p: string): string {
  const clean = path.posix.normalize(p.replace(/^\/+/, "")).replace(/\/+$/, "");
  if (clean === "." || clean === "" || clean.startsWith("..")) throw new UsageError(`path filter ${JSON.stringify(p)} must name something inside the snapshot`);
  return clean;
}

function topLevel(paths: string[]): string[] {
  const norm = [...new Set(paths.map(normalizeRel))].sort();
  return norm.filter((p) => !norm.some((q) => q !== p && isUnder(p, q)));
}

/** The entries under the given paths, plus the folders above them (so they can be created). */
function selectPaths(entries: FileEntry[], paths: string[]): FileEntry[] {
  const wanted = topLevel(paths);
  for (const w of wanted) {
    if (!entries.some((e) => isUnder(e.path, w))) throw new UsageError(`path ${JSON.stringify(w)} is not in the snapshot`);
  }
  return entries.filter((e) => wanted.some((w) => isUnder(e.path, w) || (e.type === "dir" && isUnder(w, e.path))));
}

/**
 * Whole-tree swap. Paths of the old target that the snapshot does not have and that match `keep`
 * (by default the commit's excludes: secrets, caches) are carried over into the new tree.
 */
async function swapWhole(staging: string, target: string, targetExists: boolean, keep: Matcher, inSnapshot: Set<string>): Promise<void> {
  if (!targetExists) {
    await fs.rename(staging, target); // one rename: atomic, nothing to journal
    return;
  }
  const parent = path.dirname(target);
  const rel = (p: string) => path.relative(parent, p);
  const old = holderPath(target, "old");
  const moves: Move[] = [{ from: rel(target), to: rel(old) }];
  for (const kept of await keptPaths(target, keep, inSnapshot)) moves.push({ from: rel(path.join(old, kept)), to: rel(path.join(staging, kept)), optional: true });
  moves.push({ from: rel(staging), to: rel(target) });
  await swap(target, staging, old, moves);
}

/** Makes the moves under a journal; undoes them if one fails. */
async function swap(target: string, staging: string, old: string, moves: Move[]): Promise<void> {
  const release = claimHolder(old);
  try {
    const journal = SwapJournal.begin(journalPath(target), { target: path.basename(target), staging: path.basename(staging), old: path.basename(old), moves });
    crashPoint("swap-journal");
    try {
      journal.runMoves(false);
    } catch (err) {
      try {
        journal.undoMoves();
      } catch (undoErr) {
        // The journal stays (with its "undo" line): recovery undoes the rest.
        journal.abandon();
        throw new CheckoutRecoveryError(target, `the checkout failed (${(err as Error).message}) and could not be undone (${(undoErr as Error).message}); run 'clawback recover' on this folder`);
      }
      journal.discardUndone();
      throw err;
    }
    journal.finish();
  } finally {
    release();
  }
}

async function keptPaths(root: string, keep: Matcher, inSnapshot: Set<string>): Promise<string[]> {
  const out: string[] = [];
  async function visit(rel: string): Promise<void> {
    const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true });
    const siblings = new Set(entries.map((e) => e.name));
    for (const entry of entries) {
      const p = rel ? `${rel}/${entry.name}` : entry.name;
      if (isSidecarAmong(entry.name, siblings)) continue;
      if (keep.matches(p, entry.isDirectory()) && !inSnapshot.has(p)) out.push(p);
      else if (entry.isDirectory()) await visit(p);
    }
  }
  await visit("");
  return out;
}

/**
 * Per-path swap for a filtered checkout: each restored path replaces the target's. The old
 * database sidecars beside a restored database are moved aside first: a restored database must
 * never meet them (SQLite would replay them).
 */
async function swapPaths(staging: string, target: string, roots: string[], entries: FileEntry[]): Promise<void> {
  const parent = path.dirname(target);
  const rel = (p: string) => path.relative(parent, p);
  const old = holderPath(target, "old");
  await fs.mkdir(target, { recursive: true });
  const moves: Move[] = [];
  for (const db of entries.filter((e) => e.sqlite).map((e) => e.path)) {
    for (const suffix of SQLITE_SIDECARS) {
      // A sidecar under a restored path goes aside with that path.
      if (roots.some((r) => isUnder(db + suffix, r))) continue;
      if (await exists(path.join(target, db + suffix))) moves.push({ from: rel(path.join(target, db + suffix)), to: rel(path.join(old, db + suffix)), optional: true });
    }
  }
  for (const r of roots) {
    const dst = path.join(target, r);
    if (await exists(dst)) moves.push({ from: rel(dst), to: rel(path.join(old, r)) });
    moves.push({ from: rel(path.join(staging, r)), to: rel(dst) });
  }
  await swap(target, staging, old, moves);
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}
