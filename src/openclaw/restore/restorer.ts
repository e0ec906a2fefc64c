// The restore side of the plugin inside the gateway (and in the openclaw CLI): chooses snapshots,
// answers show/diff, and runs restores through the engine child, one at a time, at a moment that
// is safe for the gateway:
//   - a restore that writes no database (a workspace file, MEMORY.md) runs at once;
//   - one that writes databases waits until no agent turn runs (the turn that asked for it
//     included: rolling back its own transcript mid-turn makes the gateway reject the turn), holds
//     new turns off while it applies, and then restarts the gateway in-process (SIGUSR2) so that
//     in-memory caches (the session list, the state lease) are read again;
//   - while a backup or another restore runs, a restore is refused with a clear answer;
//   - at start, a fresh state (fresh-state.ts) is restored from the latest snapshot, once.
// Nothing here opens the state folder's databases or the repository: the child does.
import type { SnapshotSummary } from "../../lib.ts";
import type { Logger } from "../backups.ts";
import type { PluginSettings } from "../config.ts";
import { EngineProcess } from "../engine/client.ts";
import { TIME_TRAVEL_NOTE } from "./kept-from-now.ts";
import type { RestoreJob, ShowReply } from "./protocol.ts";
import { diffReport, outcomeText, showReport, type Answer } from "./restore-report.ts";
import { RestoreStore, type RestoreRecord } from "./restore-store.ts";
import { describe, selectSnapshot, type Selection } from "./select.ts";

/**
 * An auto-restore waits this long after gateway_start: the gateway runs its startup maintenance
 * (migrations under a state lease) then, and a database written under it makes the gateway exit
 * ("agent database maintenance lease … was lost", exit 78; seen on 2026.9.6).
 */
const AUTO_RESTORE_SETTLE_MS = 20_000;
/** After the last turn ended, wait this long for OpenClaw to finish writing it before restoring. */
export const SETTLE_MS = 2_000;
/** A restore asked for from chat is looked at again after this long even if no turn end was reported. */
const NO_END_FALLBACK_MS = 60_000;
/** A restore waiting for the gateway to become idle gives up after this long. */
const IDLE_WAIT_MS = 10 * 60_000;
/** A turn that never reported its end stops counting after this long. */
const STALE_RUN_MS = 30 * 60_000;
/** New turns are held off until the restart; if none came by then (restarts disabled), they are let through. */
const RESTART_WAIT_MS = 5 * 60_000;

export interface RestorerOptions {
  settings: PluginSettings | undefined;
  configError?: string;
  stateDir: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** True while a backup runs (the backup side's runner). */
  backupRunning: () => boolean;
  /** Keeps backups from starting until the promise settles (while a restore applies, up to the restart). */
  holdBackups?: (until: Promise<void>) => void;
  /** Restarts the gateway in-process; absent in the CLI (no gateway in this process). */
  restart?: (reason: string) => void;
  /** The running OpenClaw's CLI entry (process.argv[1]), to find its workspace templates (fresh-state check). */
  openclawEntry?: string;
  now?: () => Date;
}

export interface RestoreRequest {
  /** Which snapshot, as a person says it (id, time, reason, "undo"); default "latest". */
  snapshot?: string;
  /** Only these paths of the state folder. */
  paths?: string[];
  /** "chat" (the tool, inside a turn), "cli". */
  origin: "chat" | "cli";
}

interface Pending {
  job: RestoreJob;
  selection: Selection;
  requested: string;
  /** The log has said what it waits for. */
  announced?: boolean;
  /** Called once the plan has run or was dropped (the auto-restore holds backups until then). */
  settled?: () => void;
}

export class Restorer {
  private readonly opts: RestorerOptions;
  private stateDir: string;
  private store: RestoreStore;
  private readonly runs = new Map<string, number>();
  private pending: Pending | undefined;
  private applyingFlag = false;
  private releaseBackups: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pendingSince = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  /** While true, new turns are held off and backups wait (they would capture a half-restored state). */
  private get applying(): boolean {
    return this.applyingFlag;
  }

  private set applying(on: boolean) {
    if (on === this.applyingFlag) return;
    this.applyingFlag = on;
    if (on) this.opts.holdBackups?.(new Promise<void>((resolve) => (this.releaseBackups = resolve)));
    else {
      this.releaseBackups?.();
      this.releaseBackups = undefined;
    }
  }

  constructor(opts: RestorerOptions) {
    this.opts = opts;
    this.stateDir = opts.stateDir;
    this.store = new RestoreStore(opts.stateDir);
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  private get busy(): string | undefined {
    if (this.applying) return "a restore is being applied right now";
    if (this.pending) return `a restore of snapshot ${this.pending.selection.snapshot.id.slice(0, 12)} is already waiting for the current turn to end`;
    if (this.opts.backupRunning()) return "a backup is running right now; ask again when it has finished (usually within a minute)";
    return undefined;
  }

  /**
   * A turn started (OpenClaw's agent lifecycle event, phase "start"): counted until it ends, so a
   * restore that writes databases waits for it.
   */
  onRunStart(runId: string): void {
    this.runs.set(runId, Date.now());
  }

  /**
   * Whether a new turn may start now (before_agent_run, registered only when the config grants
   * conversation access): not while a restore applies, through to the restart.
   */
  admitRun(): { outcome: "pass" } | { outcome: "block"; reason: string; message: string } {
    if (this.applying) {
      return { outcome: "block", reason: "clawback restore in progress", message: "A backup is being restored and the gateway restarts in a moment. Please send your message again in about 30 seconds." };
    }
    return { outcome: "pass" };
  }

  /** A turn ended (lifecycle "end" or "error"); a restore waiting for it may go once the gateway settles. */
  onRunEnd(runId: string): void {
    this.runs.delete(runId);
    if (this.pending) this.scheduleIdleCheck();
  }

  private activeRuns(): number {
    const cutoff = Date.now() - STALE_RUN_MS;
    for (const [id, t] of this.runs) if (t < cutoff) this.runs.delete(id);
    return this.runs.size;
  }

  private scheduleIdleCheck(delayMs = SETTLE_MS): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.runPendingIfIdle(), delayMs);
    this.idleTimer.unref?.();
  }

  private async runPendingIfIdle(): Promise<void> {
    const p = this.pending;
    if (!p || this.applying) return;
    const active = this.activeRuns();
    if (active > 0 || this.opts.backupRunning()) {
      if (!p.announced) {
        p.announced = true;
        this.opts.logger.info(`clawback: restore of ${p.selection.snapshot.id.slice(0, 12)} waits for ${active > 0 ? `${active} running turn(s)` : "the running backup"} to end`);
      }
      if (Date.now() - this.pendingSince > IDLE_WAIT_MS) {
        this.pending = undefined;
        await this.record({ ...this.recordOf(p), ok: false, error: `the gateway did not become idle within ${IDLE_WAIT_MS / 60_000} minutes; nothing was restored`, finished: this.now().toISOString() });
        this.opts.logger.warn(`clawback: restore of ${p.selection.snapshot.id.slice(0, 12)} dropped: the gateway stayed busy`);
        p.settled?.();
        return;
      }
      this.scheduleIdleCheck();
      return;
    }
    this.pending = undefined;
    try {
      if (p.job.origin === "auto-restore") {
        // Decided at start, applied later: if the state has gained sessions or files of its own
        // meanwhile (turns ran), restoring over it would throw that work away.
        const verdict = await this.freshness(p.job.stateDir);
        if (!verdict.fresh) {
          this.opts.logger.warn(`clawback: auto-restore of ${p.selection.snapshot.id.slice(0, 12)} dropped: this state has agent state of its own by now (${verdict.reason}); nothing was restored`);
          return;
        }
      }
      await this.apply(p);
    } catch (err) {
      this.opts.logger.error(`clawback: auto-restore: could not decide: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      p.settled?.();
    }
  }

  private async freshness(stateDir: string): Promise<{ fresh: boolean; reason: string }> {
    const engine = this.engine();
    try {
      return await engine.request({ op: "fresh", stateDir, ...(this.opts.openclawEntry ? { openclawEntry: this.opts.openclawEntry } : {}) });
    } finally {
      await engine.close();
    }
  }

  private recordOf(p: Pending): RestoreRecord {
    return { requested: p.requested, snapshot: p.selection.snapshot.id, why: p.selection.why, ...(p.job.paths?.length ? { paths: p.job.paths } : {}), origin: p.job.origin, ok: false };
  }

  private async record(r: RestoreRecord): Promise<void> {
    await this.store.update((s) => {
      s.lastRestore = r;
    });
  }

  private engine(): EngineProcess {
    return new EngineProcess(this.opts.env ? { env: this.opts.env } : {});
  }

  /** Opens the repository in a fresh child, runs `fn`, closes the child. */
  private async withEngine<T>(fn: (e: EngineProcess) => Promise<T>): Promise<T> {
    const settings = this.requireSettings();
    const engine = this.engine();
    try {
      await engine.request({ op: "open", target: settings.target, create: false });
      return await fn(engine);
    } finally {
      await engine.close();
    }
  }

  private requireSettings(): PluginSettings {
    if (!this.opts.settings) throw new Error(`clawback is not configured: ${this.opts.configError ?? "no settings"}`);
    return this.opts.settings;
  }

  private select(list: SnapshotSummary[], query: string | undefined): Selection {
    return selectSnapshot(list, query?.trim() ? query : "latest", this.now());
  }

  async show(query: string | undefined): Promise<Answer> {
    return this.withEngine(async (e) => {
      const sel = this.select(await e.request({ op: "log" }), query);
      return showReport(await e.request({ op: "show", ref: sel.snapshot.id }), sel.why);
    });
  }

  /** Changes from snapshot `from` to snapshot `to`, or to the state as it is now. */
  async diff(from: string | undefined, to: string | undefined): Promise<Answer> {
    return this.withEngine(async (e) => {
      const list = await e.request({ op: "log" });
      const a = this.select(list, from);
      if (to?.trim() && !/^now$/i.test(to.trim())) {
        const b = this.select(list, to);
        return diffReport(await e.request({ op: "diff", from: a.snapshot.id, to: b.snapshot.id }), a.snapshot, b.snapshot);
      }
      return diffReport(await e.request({ op: "diff", from: a.snapshot.id, to: { dir: this.stateDir, exclude: this.requireSettings().exclude, secrets: this.requireSettings().secrets } }), a.snapshot, "now");
    });
  }

  /**
   * A restore asked for from chat or the CLI. Path-only restores that write no database run now;
   * the rest run after the current turn (chat) or now (CLI: no turn of its own to protect).
   */
  async restore(req: RestoreRequest): Promise<Answer> {
    const settings = this.requireSettings();
    const busy = this.busy;
    if (busy) return { text: `Not restoring now: ${busy}. Nothing was changed.`, details: { ok: false, refused: busy } };

    const chosen = await this.withEngine(async (e) => {
      const sel = this.select(await e.request({ op: "log" }), req.snapshot);
      return { sel, show: await e.request({ op: "show", ref: sel.snapshot.id }) };
    });
    const paths = (req.paths ?? []).map((p) => p.replace(/^\/+|\/+$/g, "")).filter(Boolean);
    const job: RestoreJob = { stateDir: this.stateDir, snapshot: chosen.sel.snapshot.id, ...(paths.length ? { paths } : {}), exclude: settings.exclude, secrets: settings.secrets, origin: req.origin };
    const p: Pending = { job, selection: chosen.sel, requested: this.now().toISOString() };
    const writesDatabases = touchesDatabases(chosen.show, paths);
    const what = paths.length ? paths.join(", ") : "the whole state (memory, sessions, workspace, config)";

    // Checked again: the snapshot list took a moment, and a backup or another request may have begun.
    const busyNow = this.busy;
    if (busyNow) return { text: `Not restoring now: ${busyNow}. Nothing was changed.`, details: { ok: false, refused: busyNow } };

    if (!writesDatabases || req.origin === "cli") {
      const r = await this.apply(p);
      return { text: outcomeText(r), details: r };
    }
    this.pending = p;
    this.pendingSince = Date.now();
    // Normally the end of the asking turn starts the check; this is the fallback should no end
    // ever be reported (the turn is counted, so a running one still holds the restore back).
    this.scheduleIdleCheck(NO_END_FALLBACK_MS);
    const restart = this.opts.restart ? " then the gateway restarts by itself (10 to 30 seconds) so everything reads the restored state;" : "";
    const text = [
      `I will restore ${what} from snapshot ${describe(chosen.sel.snapshot)} — ${chosen.sel.why}.`,
      `It runs as soon as this reply is finished: first a safety snapshot of the state as it is now (say "undo" to go back to it),${restart} new messages wait until then.`,
      ...(paths.length ? [] : [TIME_TRAVEL_NOTE]),
      `Ask for the backup status afterwards to see how it went.`,
    ].join("\n");
    return { text, details: { ok: true, scheduled: true, snapshot: chosen.sel.snapshot, why: chosen.sel.why, paths, writesDatabases, when: "after this turn" } };
  }

  /** Runs the restore in the engine child, records it, and restarts the gateway when databases were written. */
  private async apply(p: Pending): Promise<RestoreRecord> {
    const { logger } = this.opts;
    this.applying = true;
    const base = this.recordOf(p);
    let restarting = false;
    try {
      logger.info(`clawback: restoring ${p.job.paths?.join(", ") || "the whole state"} from snapshot ${p.selection.snapshot.id.slice(0, 12)} (${p.selection.why})`);
      const r = await this.withEngine((e) => e.request({ op: "restore", job: p.job }));
      restarting = r.needsRestart && !!this.opts.restart;
      const rec: RestoreRecord = {
        ...base, ok: true, finished: this.now().toISOString(),
        ...(r.safetySnapshot ? { safetySnapshot: r.safetySnapshot } : {}),
        databases: r.databases, files: r.files, removed: r.removed.length, restarted: restarting,
      };
      await this.record(rec);
      logger.info(`clawback: ${outcomeText(rec)}${r.keptPaths.length || r.carriedTables.length ? ` Kept from now: ${[...r.keptPaths, ...r.carriedTables.map((t) => `table ${t.table}`)].join(", ")}.` : ""}`);
      if (restarting) {
        this.opts.restart!(`clawback restored snapshot ${p.selection.snapshot.id.slice(0, 12)}`);
        // An in-process restart replaces this instance. Still here after a while: the restart was
        // refused (commands.restart=false); let turns through again and say what is needed.
        this.restartTimer = setTimeout(() => {
          this.applying = false;
          logger.warn("clawback: the gateway did not restart after the restore; restart it (openclaw gateway restart) so it reads the restored databases");
        }, RESTART_WAIT_MS);
        this.restartTimer.unref?.();
      }
      return rec;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const rec: RestoreRecord = { ...base, ok: false, error: message, finished: this.now().toISOString() };
      await this.record(rec);
      logger.error(`clawback: restore of snapshot ${p.selection.snapshot.id.slice(0, 12)} failed, the state is as it was: ${message}`);
      return rec;
    } finally {
      // Held through the restart: turns that arrive before the gateway goes down wait for it.
      if (!restarting) this.applying = false;
    }
  }

  /** This instance is replaced (the gateway restarted and registered the plugin again): stop its timers. */
  dispose(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.restartTimer);
    this.releaseBackups?.();
    const p = this.pending;
    this.pending = undefined;
    p?.settled?.();
    if (p) void this.record({ ...this.recordOf(p), ok: false, error: "the plugin was reloaded before the restore could run; nothing was restored, ask again", finished: this.now().toISOString() });
  }

  /** For `status`: the last restore, and one waiting. */
  async status(): Promise<Answer> {
    const s = await this.store.read();
    const lines: string[] = [];
    if (this.pending) lines.push(`A restore of snapshot ${this.pending.selection.snapshot.id.slice(0, 12)} is waiting for the current turn to end.`);
    if (this.applying) lines.push("A restore is being applied now.");
    if (s.lastRestore) lines.push(`Last restore (${s.lastRestore.finished ?? s.lastRestore.requested}): ${outcomeText(s.lastRestore)}`);
    if (s.autoRestored) lines.push(`This machine was set up from snapshot ${s.autoRestored.snapshot.slice(0, 12)} on ${s.autoRestored.time}.`);
    return { text: lines.join("\n"), details: { ...s, pending: this.pending ? { snapshot: this.pending.selection.snapshot.id, requested: this.pending.requested } : null, applying: this.applying } };
  }

  /**
   * gateway_start: when this state folder holds no agent state of its own and the repository has
   * snapshots, restore the latest one (not a safety snapshot) and restart on it. Once per machine.
   * Resolves once decided and, when a restore was planned, once it has run or been dropped.
   */
  async autoRestore(stateDir: string): Promise<void> {
    const { logger } = this.opts;
    if (stateDir !== this.stateDir) {
      this.stateDir = stateDir;
      this.store = new RestoreStore(stateDir);
    }
    if (!this.opts.settings) return;
    const done = (await this.store.read()).autoRestored;
    if (done) return;
    const engine = this.engine();
    let plan: Pending | undefined;
    try {
      const verdict = await engine.request({ op: "fresh", stateDir, ...(this.opts.openclawEntry ? { openclawEntry: this.opts.openclawEntry } : {}) });
      if (!verdict.fresh) {
        logger.info(`clawback: auto-restore: not restoring, this state has agent state of its own (${verdict.reason})`);
        return;
      }
      try {
        await engine.request({ op: "open", target: this.opts.settings.target, create: false });
      } catch (err) {
        // The backup side logs why a repository cannot be opened (once, with the details); here
        // only whether there was anything to restore.
        const notFound = (err as { engineError?: string }).engineError === "RepositoryNotFoundError";
        logger.info(notFound ? "clawback: auto-restore: the state is fresh, but there is no repository to restore from yet; starting fresh" : "clawback: auto-restore: not restoring, the repository cannot be opened; starting fresh");
        return;
      }
      const list = (await engine.request({ op: "log" })).filter((s) => s.reason !== "safety");
      if (list.length === 0) {
        logger.info("clawback: auto-restore: the state is fresh and the repository has no snapshots yet; starting fresh");
        return;
      }
      const sel = this.select(list, "latest");
      logger.info(`clawback: auto-restore: the state is fresh (${verdict.reason}); restoring the latest snapshot ${describe(sel.snapshot)} from ${sel.snapshot.host}`);
      plan = {
        job: { stateDir, snapshot: sel.snapshot.id, exclude: this.opts.settings.exclude, secrets: this.opts.settings.secrets, origin: "auto-restore" },
        selection: sel, requested: this.now().toISOString(),
      };
    } catch (err) {
      logger.error(`clawback: auto-restore: could not decide: ${err instanceof Error ? err.message : String(err)}`);
      return;
    } finally {
      await engine.close();
    }
    await this.store.update((s) => {
      s.autoRestored = { time: plan!.requested, snapshot: plan!.selection.snapshot.id };
    });
    // The gateway has only just started: let its startup maintenance finish, and wait for any turn.
    const settled = new Promise<void>((resolve) => (plan!.settled = resolve));
    this.pending = plan;
    this.pendingSince = Date.now();
    this.scheduleIdleCheck(AUTO_RESTORE_SETTLE_MS);
    await settled;
  }
}

/** Whether restoring `paths` (none: everything) writes one of the snapshot's databases. */
function touchesDatabases(show: ShowReply, paths: string[]): boolean {
  if (paths.length === 0) return show.databases.length > 0;
  return show.databases.some((db) => paths.some((p) => db === p || db.startsWith(`${p}/`)));
}
