// The restore side's requests, handled in the engine child (engine/child.ts delegates here):
// show, diff, restore and the fresh-state check. They open the repository's objects and the state
// folder's live databases, which only the child may do (DESIGN.md invariant 7).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { CommitOptions, Repository } from "../../lib.ts";
import { PLUGIN_EXCLUDES } from "../engine/excludes.ts";
import type { SecretsMode } from "../config.ts";
import { detectFreshState, loadWorkspaceTemplates } from "./fresh-state.ts";
import type { RestoreEngineRequest, RestoreReplyMap, ShowReply } from "./protocol.ts";
import { stagedRestore, type KeepSecrets } from "./staged-restore.ts";
import { restoreSecrets } from "../secrets/restore-secrets.ts";
import { openclawCommitOptions } from "../secrets/commit-options.ts";

/**
 * The options a backup of the state folder commits with: the safety snapshot before a restore must
 * leave out and scrub exactly what a backup does (never a secret in the bucket), and a whole
 * restore leaves those live paths alone. The secrets module's options (excludes and the scrub),
 * with the engine child's own excludes added.
 */
export function backupCommitOptions(_stateDir: string, exclude: string[], secrets: SecretsMode): CommitOptions & { excludes: string[] } {
  // As engine/child.ts's `commit`: the secrets module's defaults and scrub, the plugin's own folder, the user's excludes.
  return openclawCommitOptions({ secrets, extraExcludes: [...PLUGIN_EXCLUDES, ...exclude] });
}

function scrubOf(stateDir: string, exclude: string[], secrets: SecretsMode): Pick<CommitOptions, "scrub"> {
  const { scrub } = backupCommitOptions(stateDir, exclude, secrets);
  return scrub ? { scrub } : {};
}

export async function handleRestoreOp(repo: () => Repository, req: RestoreEngineRequest, signal?: AbortSignal): Promise<RestoreReplyMap[keyof RestoreReplyMap]> {
  switch (req.op) {
    case "show": {
      const r = repo();
      const snapshot = await r.show(req.ref);
      const top = new Map<string, { files: number; bytes: number }>();
      const databases: string[] = [];
      for (const e of await r.ls(snapshot.id)) {
        if (e.sqlite) databases.push(e.path);
        if (e.type === "dir") continue;
        const head = e.path.includes("/") ? `${e.path.split("/")[0]}/` : e.path;
        const t = top.get(head) ?? { files: 0, bytes: 0 };
        t.files++;
        t.bytes += e.size;
        top.set(head, t);
      }
      const reply: ShowReply = { snapshot, top: [...top].map(([path, t]) => ({ path, ...t })).sort((a, b) => b.bytes - a.bytes), databases };
      return reply;
    }
    case "diff": {
      // Against the folder: read through the scrub its backups use, or every secret would show as a change.
      const to = typeof req.to === "string" ? req.to : { dir: req.to.dir, ...scrubOf(req.to.dir, req.to.exclude, req.to.secrets) };
      const changes = await repo().diff(req.from, to);
      return changes.map((c) => ({
        path: c.path, kind: c.kind,
        ...(c.before && c.before.type !== "dir" ? { before: c.before.size } : {}),
        ...(c.after && c.after.type !== "dir" ? { after: c.after.size } : {}),
      }));
    }
    case "restore": {
      const { job } = req;
      const opts = backupCommitOptions(job.stateDir, job.exclude, job.secrets);
      // The machine keeps its own secrets (invariant 9): the snapshot holds placeholders for them
      // (or, from another machine, that machine's). With `secrets: include` the snapshot's are wanted.
      const keepSecrets: KeepSecrets | undefined = job.secrets === "include" ? undefined : async (tree, stateDir) => {
        await restoreSecrets({ currentStateDir: stateDir, restoredStateDir: tree });
      };
      return stagedRestore(repo(), {
        stateDir: job.stateDir, snapshot: job.snapshot, ...(job.paths?.length ? { paths: job.paths } : {}),
        excludes: opts.excludes, safetyCommit: opts, secrets: job.secrets, tags: [`origin:${job.origin}`],
        ...(job.noSafetySnapshot ? { noSafetySnapshot: true } : {}),
      }, keepSecrets, signal);
    }
    case "fresh": {
      // The CLI entry may be a link (node_modules/.bin/openclaw); the package is where it points.
      const entry = req.openclawEntry ? await fs.realpath(req.openclawEntry).catch(() => undefined) : undefined;
      const templates = entry ? await loadWorkspaceTemplates(path.dirname(entry)) : undefined;
      return detectFreshState(req.stateDir, templates?.size ? { templates } : {});
    }
  }
}
