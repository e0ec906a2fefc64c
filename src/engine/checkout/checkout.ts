import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { PathError, UsageError } from "../../errors.ts";
import { syncIndex } from "../../index/sync.ts";
import type { RepoContext } from "../context.ts";
import { commit } from "../commit/commit.ts";
import { compileMatcher, type Matcher } from "../excludes.ts";
import { isUnder } from "../listing.ts";
import { materialize } from "./materialize.ts";
import { loadListing, resolveSnapshot } from "../snapshots.ts";
import { isSidecarAmong } from "../sqlite/sqlite-capture.ts";
import type { CheckoutOptions, CheckoutResult, FileEntry } from "../types.ts";

const SQLITE_SIDECARS = ["-wal", "-shm", "-journal"];

/**
 * Checkout (invariant 5): a safety snapshot of a non-empty target, then everything is written and
 * verified in a staging folder beside the target, then swapped in by renames. Until the swap the
 * target is untouched; a failed swap is rolled back.
 */
export async function checkout(ctx: RepoContext, ref: string, targetDir: string, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  await syncIndex(ctx.cache, ctx.backend, ctx.keys);
  const { id, record } = resolveSnapshot(ctx, ref);
  const all = await loadListing(ctx, record, id);
  const selected = opts.paths?.length ? selectPaths(all, opts.paths) : all;

  const target = path.resolve(targetDir);
  const parent = path.dirname(target);
  const existing = await fs.lstat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new PathError(target, "checkout target exists and is not a folder");
  await fs.mkdir(parent, { recursive: true });
  const nonEmpty = existing !== undefined && (await fs.readdir(target)).length > 0;

  let safetySnapshot: string | undefined;
  if (nonEmpty && opts.safetySnapshot !== false) {
    safetySnapshot = (await commit(ctx, target, { reason: "safety", excludes: record.excludes, tags: [`before-checkout:${id.slice(0, 12)}`], ...(opts.scrub ? { scrub: opts.scrub } : {}), ...(opts.progress ? { progress: opts.progress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })).snapshot.id;
  }

  const staging = await fs.mkdtemp(path.join(parent, `.${path.basename(target)}.clawback-staging-`));
  try {
    const written = await materialize(ctx, selected, staging, opts);
    if (opts.paths?.length) await swapPaths(staging, target, topLevel(opts.paths), selected);
    else await swapWhole(staging, target, existing !== undefined, compileMatcher(opts.keep ?? record.excludes), new Set(all.map((e) => e.path)));
    return { snapshot: id, ...(safetySnapshot ? { safetySnapshot } : {}), ...written };
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
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

function holderName(target: string, what: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.clawback-${what}-${randomBytes(6).toString("hex")}`);
}

/** Renames recorded so a failure half-way can put everything back in reverse order. */
class Moves {
  private readonly done: [string, string][] = [];
  async move(from: string, to: string): Promise<void> {
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.rename(from, to);
    this.done.push([from, to]);
  }
  async rollback(): Promise<void> {
    for (const [from, to] of this.done.reverse()) await fs.rename(to, from).catch(() => {});
  }
}

/**
 * Whole-tree swap. Paths of the old target that the snapshot does not have and that match `keep`
 * (by default the commit's excludes: secrets, caches) are carried over into the new tree.
 */
async function swapWhole(staging: string, target: string, targetExists: boolean, keep: Matcher, inSnapshot: Set<string>): Promise<void> {
  if (!targetExists) {
    await fs.rename(staging, target);
    await fs.mkdir(staging); // the caller removes the (now empty) staging name
    return;
  }
  const old = holderName(target, "old");
  const moves = new Moves();
  try {
    await moves.move(target, old);
    for (const rel of await keptPaths(old, keep, inSnapshot)) await moves.move(path.join(old, rel), path.join(staging, rel));
    await moves.move(staging, target);
  } catch (err) {
    await moves.rollback();
    throw err;
  }
  await fs.mkdir(staging);
  await fs.rm(old, { recursive: true, force: true });
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

/** Per-path swap for a filtered checkout: each restored path replaces the target's, atomically per path. */
async function swapPaths(staging: string, target: string, roots: string[], entries: FileEntry[]): Promise<void> {
  const old = holderName(target, "old");
  const moves = new Moves();
  const databases = entries.filter((e) => e.sqlite).map((e) => e.path);
  try {
    await fs.mkdir(target, { recursive: true });
    for (const rel of roots) {
      const dst = path.join(target, rel);
      if (await exists(dst)) await moves.move(dst, path.join(old, rel));
      await moves.move(path.join(staging, rel), dst);
    }
    // A restored database must not meet the old database's -wal/-shm: SQLite would replay them.
    for (const db of databases) {
      for (const suffix of SQLITE_SIDECARS) {
        const side = path.join(target, db + suffix);
        if (await exists(side)) await moves.move(side, path.join(old, db + suffix));
      }
    }
  } catch (err) {
    await moves.rollback();
    await fs.rm(old, { recursive: true, force: true });
    throw err;
  }
  await fs.rm(old, { recursive: true, force: true });
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}
