// A restore of the OpenClaw state folder, whole or in part, that is safe with the gateway running
// (DESIGN.md invariants 5, 8, 9, 11 and "Restoring under a running gateway"), in order:
//   1. a safety snapshot of the state as it is now (reason `safety`: retention never removes it);
//   2. checkout of the snapshot into a staging folder beside the state folder, every file
//      verified (a failed or cut-off download stops here: nothing live has been touched);
//   3. this machine's secrets put into the staged tree (restoreSecrets, from the secrets module);
//   4. what a rollback cannot undo taken from now (kept-from-now.ts): pairing and delivery rows of
//      the global database, channel session folders;
//   5. applyStaged: databases written into the live ones with the backup API, files swapped in.
// The caller restarts the gateway afterwards when databases were written (its in-memory caches,
// such as the session list, are stale until then). Runs in the engine child.

import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { compileMatcher, type CommitOptions, type FileEntry, type Repository } from "../../lib.ts";
import { applyStaged, type ApplyResult } from "./apply-staged.ts";
import { carryRows, type CarriedTable } from "./carry-rows.ts";
import { GLOBAL_DATABASE, KEPT_GLOBAL_TABLES, KEPT_PATHS } from "./kept-from-now.ts";

export interface StagedRestoreJob {
  /** The live state folder. */
  stateDir: string;
  /** Full snapshot id (resolved beforehand, see select.ts). */
  snapshot: string;
  /** Restore only these paths (relative to the state folder); none = the whole snapshot. */
  paths?: string[];
  /** Excludes of a backup of this state: a whole restore leaves those live paths alone. */
  excludes: string[];
  /** What a backup of this state commits with (excludes, scrub): the safety snapshot uses it (default: `excludes` only). */
  safetyCommit?: CommitOptions;
  /** Secrets mode of this machine's backups: "include" carries secrets in snapshots. */
  secrets: "exclude" | "include";
  /** Skip the safety snapshot (only when the state holds nothing of its own: a fresh machine). */
  noSafetySnapshot?: boolean;
  /** Tags for the safety snapshot besides before-restore:<id>. */
  tags?: string[];
}

export interface StagedRestoreResult extends ApplyResult {
  snapshot: string;
  safetySnapshot?: string;
  /** Paths kept from now (time travel), relative to the state folder. */
  keptPaths: string[];
  carriedTables: CarriedTable[];
  /** True when live databases were written: the gateway must restart to drop stale caches. */
  needsRestart: boolean;
}

/**
 * Keeps this machine's own secrets in a staged tree before it is applied. The secrets module
 * (src/openclaw/secrets/, restoreSecrets) provides it; until it is merged, a restore of a
 * snapshot taken with `secrets: exclude` has no secrets to bring back and the whole-restore
 * `keep` matcher (the backup's excludes) already leaves credentials/, .env and secrets.json alone.
 */
export type KeepSecrets = (stagedTree: string, stateDir: string) => Promise<void>;

export async function stagedRestore(repo: Repository, job: StagedRestoreJob, keepSecrets?: KeepSecrets, signal?: AbortSignal): Promise<StagedRestoreResult> {
  const stateDir = path.resolve(job.stateDir);
  const entries = await repo.ls(job.snapshot);
  const whole = !job.paths?.length;
  const named = (job.paths ?? []).map((p) => p.replace(/^\/+|\/+$/g, ""));

  // What the person named by path is restored even when it is kept-from-now state.
  const kept = compileMatcher(KEPT_PATHS);
  const isKept = (rel: string, isDir: boolean): boolean => kept.matches(rel, isDir) && !named.some((n) => kept.matches(n, true) && (rel === n || rel.startsWith(`${n}/`)));

  let safetySnapshot: string | undefined;
  if (!job.noSafetySnapshot) {
    const safety = await repo.commit(stateDir, {
      excludes: job.excludes, ...job.safetyCommit,
      reason: "safety", tags: [`before-restore:${job.snapshot.slice(0, 12)}`, ...(job.tags ?? [])], ...(signal ? { signal } : {}),
    });
    safetySnapshot = safety.snapshot.id;
  }

  const work = path.join(path.dirname(stateDir), `.${path.basename(stateDir)}.clawback-restore-${randomBytes(6).toString("hex")}`);
  await fs.mkdir(work, { recursive: true });
  try {
    const tree = path.join(work, "tree");
    await repo.checkout(job.snapshot, tree, { safetySnapshot: false, ...(whole ? {} : { paths: named }), ...(signal ? { signal } : {}) });

    const keptPaths: string[] = [];
    for (const e of entries) {
      if (e.type === "dir" || !isKept(e.path, false)) continue;
      if (await fs.rm(path.join(tree, e.path), { force: true }).then(() => true, () => false)) keptPaths.push(e.path);
    }

    if (keepSecrets) {
      await keepSecrets(tree, stateDir);
      // It brings the machine's secret files into the tree; a restore of some paths touches only those.
      if (!whole) await pruneOutside(tree, named);
    }

    const carriedTables: CarriedTable[] = [];

    const databases = new Set(entries.filter((e) => e.sqlite && !isKept(e.path, false)).map((e) => e.path));
    const keep = compileMatcher([...job.excludes, ...KEPT_PATHS]);
    const applied = await applyStaged({
      tree, target: stateDir, databases, whole, work,
      beforeWrite: (rel, staged, live) => {
        if (rel === GLOBAL_DATABASE) carriedTables.push(...carryRows(staged, live, KEPT_GLOBAL_TABLES));
      },
      ...(whole ? { inSnapshot: new Set(entries.map((e: FileEntry) => e.path)), keep } : {}),
    });
    return {
      snapshot: job.snapshot,
      ...(safetySnapshot ? { safetySnapshot } : {}),
      ...applied,
      keptPaths,
      carriedTables,
      needsRestart: applied.databases.length > 0,
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Removes from the staged tree every file that is not at or under one of `paths`. */
async function pruneOutside(tree: string, paths: string[]): Promise<void> {
  const inside = (rel: string): boolean => paths.some((p) => rel === p || rel.startsWith(`${p}/`));
  const leadsInside = (rel: string): boolean => paths.some((p) => p.startsWith(`${rel}/`));
  async function visit(rel: string): Promise<void> {
    for (const e of await fs.readdir(path.join(tree, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (inside(p)) continue;
      if (e.isDirectory() && leadsInside(p)) await visit(p);
      else await fs.rm(path.join(tree, p), { recursive: true, force: true });
    }
  }
  await visit("");
}
