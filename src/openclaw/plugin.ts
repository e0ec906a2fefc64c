// One loaded instance of the plugin inside the gateway: its settings (or the reason it has none),
// the backup runner, the schedule, and the answers the tool gives. index.ts wires it to OpenClaw's
// hooks and service; everything here runs on the gateway's event loop and only ever waits on the
// engine child, never on the repository or the state folder's files.
import { Cron } from "croner";
import { ConfigError } from "../errors.ts";
import { parseSettings, type PluginSettings } from "./config.ts";
import { Backups, readRepository, type BackupOutcome, type BackupReason, type Logger } from "./backups.ts";
import { EngineProcess } from "./engine/client.ts";
import { listReport, statusReport } from "./report.ts";
import { StatusStore } from "./status-store.ts";

/** A gateway_stop handler has 5 s before the gateway moves on; leave room to stop the child. */
const SHUTDOWN_BUDGET_MS = 4_000;
/** Compactions closer together than this make one pre-compaction backup. */
const PRE_COMPACTION_DEBOUNCE_MS = 5 * 60_000;

const HINT_SHOWN = Symbol.for("clawback.recoveryHintShown");

export interface Answer {
  text: string;
  details: unknown;
}

export class ClawbackPlugin {
  readonly settings: PluginSettings | undefined;
  readonly configError: string | undefined;
  private stateDir: string;
  private store: StatusStore;
  private backups: Backups | undefined;
  private cron: Cron | undefined;
  private readonly logger: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private compactionTurn: Promise<void> = Promise.resolve();

  constructor(pluginConfig: Record<string, unknown> | undefined, stateDir: string, logger: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.logger = logger;
    this.env = env;
    this.stateDir = stateDir;
    this.store = new StatusStore(stateDir);
    try {
      this.settings = parseSettings(pluginConfig, env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.configError = `config ${err.message}`;
    }
    if (this.settings) this.backups = new Backups({ settings: this.settings, stateDir, store: this.store, logger, env });
  }

  /** The one line that says what is wrong with the config (logged by index.ts at registration). */
  configProblem(): string | undefined {
    return this.configError && `clawback: ${this.configError}; no backups until it is fixed`;
  }

  /**
   * Service start: the state folder is known for sure now; start the schedule, check the bucket.
   * No backup runs before `holdUntil` settles (the auto-restore's decision and restore).
   */
  start(stateDir: string, holdUntil?: Promise<unknown>): void {
    if (stateDir !== this.stateDir) {
      this.stateDir = stateDir;
      this.store = new StatusStore(stateDir);
      if (this.settings) this.backups = new Backups({ settings: this.settings, stateDir, store: this.store, logger: this.logger, env: this.env });
    }
    if (holdUntil) this.backups?.holdUntil(holdUntil);
    const settings = this.settings;
    if (!settings) return;
    if (settings.passphraseIsApplicationKey && !(globalThis as Record<symbol, unknown>)[HINT_SHOWN]) {
      (globalThis as Record<symbol, unknown>)[HINT_SHOWN] = true;
      this.logger.info(`clawback: the B2 application key also wraps the repository's master key; add a recovery passphrase so a rotated or lost key never strands old snapshots: B2_APPLICATION_KEY=… clawback key add --repo ${settings.target.url}`);
    }
    if (settings.cron) {
      this.cron = new Cron(settings.cron, { catch: (err) => this.logger.error(`clawback: scheduled backup failed to start: ${String(err)}`) }, () => {
        void this.backups!.trigger("schedule");
      });
    }
    void this.checkRepository();
  }

  stop(): void {
    this.cron?.stop();
    this.cron = undefined;
  }

  /** When the schedule fires next (computed from the settings when the schedule is not running here, as in the CLI). */
  nextRun(): Date | null {
    if (this.cron) return this.cron.nextRun();
    if (!this.settings?.cron) return null;
    const probe = new Cron(this.settings.cron, { paused: true });
    const next = probe.nextRun();
    probe.stop();
    return next;
  }

  /** Opens (or creates) the repository once at start so a wrong key or bucket shows at once. */
  private async checkRepository(): Promise<void> {
    const settings = this.settings!;
    const engine = new EngineProcess({ env: this.env });
    try {
      const opened = await engine.request({ op: "open", target: settings.target, create: true });
      if (opened.created) this.logger.info(`clawback: created a new repository at ${settings.target.url}`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.store.update((s) => {
        s.lastError = { time: new Date().toISOString(), during: "opening the repository", message };
      });
      this.logger.error(`clawback: cannot open the repository ${settings.target.url}: ${message}`);
    } finally {
      await engine.close();
    }
  }

  /** True while a backup runs (the restore side refuses to restore then). */
  get backupRunning(): boolean {
    return this.backups?.running ?? false;
  }

  /** No backup starts until `until` settles (a restore being applied). */
  holdBackups(until: Promise<unknown>): void {
    this.backups?.holdUntil(until);
  }

    backup(reason: BackupReason): Promise<BackupOutcome> {
    if (!this.backups) return Promise.resolve({ ok: false, error: this.configError ?? "not configured", reason });
    return this.backups.trigger(reason);
  }

  /**
   * gateway_stop: only a real shutdown ("gateway stopping") backs up, within the budget; a hot
   * reload ("plugin replacement") or an in-process restart ("gateway restarting") does not.
   * Backups held while the gateway decides whether a fresh state is restored from the bucket (after
   * every start, until the engine child has looked at the state) make the shutdown backup wait for
   * that decision, within the same budget: a stop a moment after a restart went without one.
   */
  async onGatewayStop(reason: string | undefined): Promise<void> {
    if (reason !== "gateway stopping" || !this.backups) return;
    const backups = this.backups;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), SHUTDOWN_BUDGET_MS)));
    const result = await Promise.race([backups.trigger("shutdown"), outOfTime]);
    clearTimeout(timer);
    if (result === "timeout") {
      const undecided = backups.isHeld;
      await backups.stop();
      if (undecided) {
        this.logger.info(`clawback: no shutdown backup: the gateway stopped before deciding whether to restore this fresh state from the bucket (waited ${SHUTDOWN_BUDGET_MS / 1000} s)`);
        return;
      }
      this.logger.warn(`clawback: the shutdown backup did not finish within ${SHUTDOWN_BUDGET_MS / 1000} s; stopped it after ${Date.now() - started} ms in the stop hook (what it uploaded is reused by the next backup)`);
      return;
    }
    // Nothing may start once the gateway is going down (a trigger during the hook's wait).
    await backups.stop();
    this.logger.info(`clawback: stop hook done in ${Date.now() - started} ms (shutdown backup ${result.ok ? "made" : "failed"})`);
  }

  /**
   * before_compaction: back up, at most once per debounce window (kept across restarts). Calls are
   * taken one at a time: two sessions compacting at once must not both read "no recent backup".
   */
  onBeforeCompaction(): Promise<void> {
    const next = this.compactionTurn.then(() => this.preCompactionBackup());
    this.compactionTurn = next.catch(() => undefined);
    return next;
  }

  private async preCompactionBackup(): Promise<void> {
    if (!this.backups) return;
    const status = await this.store.read();
    const now = Date.now();
    if (status.lastPreCompactionMs !== undefined && now - status.lastPreCompactionMs < PRE_COMPACTION_DEBOUNCE_MS) {
      this.logger.info("clawback: compaction within 5 minutes of the last pre-compaction backup; not backing up again");
      return;
    }
    await this.store.update((s) => {
      s.lastPreCompactionMs = now;
    });
    // Not awaited: the compaction goes on while the child captures a consistent state.
    void this.backups.trigger("pre-compaction");
  }

  async status(): Promise<Answer> {
    const status = await this.store.read();
    let repo: Awaited<ReturnType<typeof readRepository>> | undefined;
    let repoError: string | undefined;
    if (this.settings) {
      try {
        repo = await readRepository(this.settings, this.env);
      } catch (err) {
        repoError = err instanceof Error ? err.message : String(err);
      }
    }
    return statusReport({
      status,
      running: this.backups?.running ?? false,
      nextRun: this.nextRun(),
      ...(this.settings ? { schedule: this.settings.schedule } : {}),
      ...(this.configError ? { configError: this.configError } : {}),
      ...(repo ? { repo } : {}),
      ...(repoError ? { repoError } : {}),
    });
  }

  async list(limit?: number): Promise<Answer> {
    if (!this.settings) return { text: `clawback is not configured: ${this.configError}`, details: { error: this.configError } };
    const { snapshots } = await readRepository(this.settings, this.env);
    return listReport(snapshots, limit);
  }
}
