// The engine child: a Node process of its own (forked by client.ts) that opens the repository and
// runs what the plugin asks over IPC. It is the only clawback code that opens the state folder's
// databases (DESIGN.md, invariant 7 and "One process, one set of locks"): its descriptors and
// SQLite connections cannot drop the gateway's POSIX locks, its memory and collections are its
// own, and a crash here is a failed request for the gateway, nothing more.
import { Repository, ClawbackError, LockedError, type CommitOptions } from "../../lib.ts";
import type { EngineErrorInfo, EngineMessage, Envelope, ReplyMap } from "./protocol.ts";
import { PLUGIN_EXCLUDES } from "./excludes.ts";
import { openclawCommitOptions } from "../secrets/commit-options.ts";
import { handleRestoreOp } from "../restore/engine-ops.ts";

let repo: Repository | undefined;
let running: AbortController | undefined;

function send(msg: EngineMessage): void {
  process.send!(msg);
}

function errorInfo(err: unknown): EngineErrorInfo {
  if (err instanceof ClawbackError) return { name: err.name, message: err.message, exitCode: err.exitCode };
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, exitCode: 1 };
}

function requireRepo(): Repository {
  if (!repo) throw new ClawbackError("the engine child has no open repository (open first)");
  return repo;
}

async function handle(req: Envelope): Promise<ReplyMap[keyof ReplyMap]> {
  switch (req.op) {
    case "open": {
      const { target } = req;
      const backendOptions = { ...(target.keyId ? { keyId: target.keyId, accessKeyId: target.keyId } : {}), ...(target.applicationKey ? { applicationKey: target.applicationKey, secretAccessKey: target.applicationKey } : {}) };
      const opts = { passphrase: target.passphrase, backendOptions };
      let created = false;
      try {
        repo = await Repository.open(target.url, opts);
      } catch (err) {
        if (!(req.create && err instanceof ClawbackError && err.name === "RepositoryNotFoundError")) throw err;
        // An empty bucket or prefix is initialised on first use.
        repo = await Repository.init(target.url, opts);
        created = true;
      }
      return { repositoryId: repo.id, created };
    }
    case "commit": {
      const r = requireRepo();
      const { job } = req;
      // The defaults (secret files, regenerable folders) and, unless secrets are included, the
      // scrub of secret rows and config values: src/openclaw/secrets/.
      const defaults = openclawCommitOptions({ secrets: job.secrets, extraExcludes: [...PLUGIN_EXCLUDES, ...job.exclude] });
      running = new AbortController();
      const opts: CommitOptions = { reason: job.reason, ...defaults, signal: running.signal };
      try {
        const result = await r.commit(job.dir, opts);
        return { snapshot: result.snapshot, warnings: result.warnings };
      } finally {
        running = undefined;
      }
    }
    case "retain": {
      const r = requireRepo();
      const forget = await r.forgetByPolicy(req.retention);
      if (!req.prune) return { forgotten: forget.removed };
      if (forget.removed.length === 0) return { forgotten: [], pruneSkipped: "nothing was forgotten" };
      try {
        const plan = await r.prune({ dryRun: true });
        const stored = (await r.stats()).storedBytes;
        if (plan.bytesFreed < req.prune.minBytes && plan.bytesFreed < stored * req.prune.minFraction) {
          return { forgotten: forget.removed, pruneSkipped: `only ${plan.bytesFreed} bytes would be freed` };
        }
        const done = await r.prune();
        return { forgotten: forget.removed, pruned: { bytesFreed: done.bytesFreed, packsDeleted: done.packsDeleted, packsRepacked: done.packsRepacked } };
      } catch (err) {
        // A commit elsewhere (or one cut off, until its lock goes stale) holds a lock: prune waits.
        if (err instanceof LockedError) return { forgotten: forget.removed, pruneSkipped: err.message };
        throw err;
      }
    }
    case "log":
      return requireRepo().log();
    case "stats":
      return requireRepo().stats();
    case "abort":
      running?.abort();
      return null;
    case "show":
    case "diff":
    case "fresh":
      return handleRestoreOp(requireRepo, req);
    case "restore": {
      running = new AbortController();
      try {
        return await handleRestoreOp(requireRepo, req, running.signal);
      } finally {
        running = undefined;
      }
    }
  }
}

process.on("message", (raw) => {
  const req = raw as Envelope;
  // abort answers at once, even while another request is in progress.
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (err: unknown) => send({ id: req.id, ok: false, error: errorInfo(err) }),
  );
});

// The parent went away (the gateway exited or killed the channel): stop, the lock is released by
// the commit's own cleanup only if we get there, else it goes stale.
process.on("disconnect", () => {
  running?.abort();
  void repo?.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
  if (!repo) process.exit(0);
});

send({ event: "ready", pid: process.pid });
