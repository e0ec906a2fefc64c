// Runs backups for the plugin, one at a time: each in a fresh engine child (client.ts) that opens
// the repository (creating it on first use), commits the state folder, then applies retention.
// A trigger that arrives while a backup runs is coalesced into at most one follow-up. Failures
// (a bad key, an unreachable bucket, the child killed) are recorded and logged, never thrown at
// the gateway.
import type { SnapshotSummary, RepoStats, Warning } from "../lib.ts";
import type { PluginSettings } from "./config.ts";
import { EngineProcess } from "./engine/client.ts";
import type { PrunePlan } from "./engine/protocol.ts";
import type { StatusStore } from "./status-store.ts";

export type BackupReason = "schedule" | "shutdown" | "pre-compaction" | "manual";

export type BackupOutcome =
  | { ok: true; snapshot: SnapshotSummary; warnings: Warning[] }
  | { ok: false; error: string; reason: BackupReason };

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Prune after a forget when it frees at least 64 MiB or a tenth of the bucket: prune downloads and
 * rewrites the live part of partly used packs, so small gains are left for a later run (what a
 * forget leaves behind only grows until then; nothing is lost by waiting).
 */
const PRUNE_PLAN: PrunePlan = { minBytes: 64 * 1024 * 1024, minFraction: 0.1 };

export interface BackupsOptions {
  settings: PluginSettings;
  stateDir: string;
  store: StatusStore;
  logger: Logger;
  /** Environment of the engine child (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Backups {
  private readonly opts: BackupsOptions;
  private current: Promise<BackupOutcome> | undefined;
  private followUp: Promise<BackupOutcome> | undefined;
  private engine: EngineProcess | undefined;
  private held: Promise<void> | undefined;
  private stopped = false;
  private afterHold: Promise<BackupOutcome> | undefined;

  constructor(opts: BackupsOptions) {
    this.opts = opts;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /**
   * Starts a backup, or joins the one queued behind the running one. Resolves when the backup that
   * covers this trigger has ended; never rejects.
   */
  trigger(reason: BackupReason): Promise<BackupOutcome> {
    if (this.held) {
      this.afterHold ??= this.held.then(() => {
        this.afterHold = undefined;
        return this.trigger(reason);
      });
      return this.afterHold;
    }
    if (this.followUp) return this.followUp;
    if (!this.current) return this.start(reason);
    this.followUp = this.current.then(() => {
      this.followUp = undefined;
      return this.start(reason);
    });
    return this.followUp;
  }

  /**
   * No backup starts until `until` settles; triggers meanwhile make one backup after it. The
   * gateway holds backups while it decides whether a fresh state is restored from the bucket: a
   * backup of the fresh state first would become the latest snapshot, the one a new machine picks.
   */
  holdUntil(until: Promise<unknown>): void {
    const settled = (p: Promise<unknown> | undefined) => p?.then(
      () => undefined,
      () => undefined,
    );
    // Holds add up: the gate opens when this one and any earlier one have settled.
    const gate: Promise<void> = Promise.all([settled(this.held), settled(until)]).then(() => undefined).finally(() => {
      if (this.held === gate) this.held = undefined;
    });
    this.held = gate;
  }

  /**
   * Stops for good (the gateway is going down): the running backup is abandoned (what it uploaded
   * is reused by the next one), and no queued or later trigger starts another.
   */
  async stop(graceMs = 300): Promise<void> {
    this.stopped = true;
    const engine = this.engine;
    if (!engine) return;
    await Promise.race([engine.request({ op: "abort" }).catch(() => null), new Promise((r) => setTimeout(r, graceMs))]);
    await Promise.race([engine.exited, new Promise((r) => setTimeout(r, graceMs))]);
    engine.kill();
  }

  private start(reason: BackupReason): Promise<BackupOutcome> {
    if (this.stopped) return Promise.resolve({ ok: false, error: "not started: the gateway is stopping", reason });
    const run = this.run(reason).finally(() => {
      if (this.current === run) this.current = undefined;
    });
    this.current = run;
    return run;
  }

  private async run(reason: BackupReason): Promise<BackupOutcome> {
    const { settings, stateDir, store, logger } = this.opts;
    const engine = new EngineProcess({
      ...(this.opts.env ? { env: this.opts.env } : {}),
      onSpawn: (pid) => logger.info(`clawback: backup (${reason}) started in engine process ${pid}`),
    });
    this.engine = engine;
    try {
      const opened = await engine.request({ op: "open", target: settings.target, create: true });
      if (opened.created) logger.info(`clawback: created a new repository at ${settings.target.url}`);
      const { snapshot, warnings } = await engine.request({ op: "commit", job: { dir: stateDir, reason, exclude: settings.exclude, secrets: settings.secrets } });
      const stats = snapshot.stats;
      await store.update((s) => {
        s.lastBackup = {
          snapshot: snapshot.id, time: snapshot.time, reason, durationMs: stats.durationMs, addedBytes: stats.addedBytes, files: stats.files, bytes: stats.bytes,
          ...(snapshot.sqliteCheck?.failed.length ? { failedSqliteCheck: snapshot.sqliteCheck.failed } : {}),
        };
      });
      logger.info(`clawback: snapshot ${snapshot.id.slice(0, 12)} (${reason}) in ${(stats.durationMs / 1000).toFixed(1)} s, ${stats.files} files, added ${formatBytes(stats.addedBytes)}${warnings.length ? `, ${warnings.length} warnings` : ""}`);
      for (const w of warnings.slice(0, 5)) logger.warn(`clawback: ${w.path}: ${w.message}`);
      // Retention and pruning take time and requests: never within a shutdown's budget.
      if (reason !== "shutdown") await this.retain(engine);
      return { ok: true, snapshot, warnings };
    } catch (err) {
      const message = messageOf(err);
      await store.update((s) => {
        s.lastError = { time: new Date().toISOString(), during: `backup (${reason})`, message };
      });
      logger.error(`clawback: backup (${reason}) failed: ${message}`);
      return { ok: false, error: message, reason };
    } finally {
      if (this.engine === engine) this.engine = undefined;
      await engine.close();
    }
  }

  private async retain(engine: EngineProcess): Promise<void> {
    const { settings, store, logger } = this.opts;
    try {
      const r = await engine.request({ op: "retain", retention: settings.retention, prune: PRUNE_PLAN });
      await store.update((s) => {
        s.lastRetention = { time: new Date().toISOString(), forgotten: r.forgotten.length, ...(r.pruned ? { pruned: { bytesFreed: r.pruned.bytesFreed } } : {}), ...(r.pruneSkipped ? { pruneSkipped: r.pruneSkipped } : {}) };
      });
      if (r.forgotten.length) logger.info(`clawback: retention removed ${r.forgotten.length} snapshot(s)${r.pruned ? `; prune freed ${formatBytes(r.pruned.bytesFreed)}` : ""}`);
    } catch (err) {
      const message = messageOf(err);
      await store.update((s) => {
        s.lastError = { time: new Date().toISOString(), during: "retention", message };
      });
      logger.error(`clawback: retention failed: ${message}`);
    }
  }
}

/** Opens the repository in a short-lived engine child and reads its snapshots and size. */
export async function readRepository(settings: PluginSettings, env?: NodeJS.ProcessEnv): Promise<{ snapshots: SnapshotSummary[]; stats: RepoStats }> {
  const engine = new EngineProcess(env ? { env } : {});
  try {
    await engine.request({ op: "open", target: settings.target, create: false });
    const snapshots = await engine.request({ op: "log" });
    const stats = await engine.request({ op: "stats" });
    return { snapshots, stats };
  } finally {
    await engine.close();
  }
}
