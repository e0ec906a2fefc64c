// The OpenClaw plugin's entry (package.json "openclaw.extensions"). OpenClaw evaluates this module
// more than once per process and calls register() in several modes: nothing happens at the top
// level, and schedules, hooks and services are set up only in "full" mode (the gateway).
import { definePluginEntry, type OpenClawPluginApi } from "openclaw/plugin-sdk/plugin-entry";
import { ClawbackPlugin } from "./plugin.ts";
import { registerClawbackCli, defaultStateDir, type CommandLike } from "./cli.ts";
import { runEngineFrom } from "./engine/client.ts";
import { TOOL_DESCRIPTION, TOOL_NAME, TOOL_PARAMETERS, runTool, type ToolParams } from "./tool.ts";
import type { Logger } from "./backups.ts";
import { Restorer } from "./restore/restorer.ts";

/** Longest a fresh state's auto-restore (decision, settling, waiting for idle, restore) holds backups. */
const AUTO_RESTORE_HOLD_MS = 15 * 60_000;

type AnyTool = Parameters<OpenClawPluginApi["registerTool"]>[0];

function stateDirOf(api: OpenClawPluginApi): string {
  try {
    return api.runtime.state.resolveStateDir();
  } catch {
    return defaultStateDir();
  }
}

function loggerOf(api: OpenClawPluginApi): Logger {
  return {
    info: (m) => api.logger.info(m),
    warn: (m) => api.logger.warn(m),
    error: (m) => api.logger.error(m),
  };
}

/**
 * The gateway's restore side, shared by every registration in this process: OpenClaw may run the
 * tool from a "tool-discovery" registration while the hooks that count turns, and the restart,
 * belong to the "full" one. A full registration (gateway start, and again after an in-process
 * restart) replaces it, so nothing of a restore carries over a restart but its record on disk.
 */
const GATEWAY_RESTORER = Symbol.for("clawback.gatewayRestorer");

function gatewayRestorer(): Restorer | undefined {
  return (globalThis as Record<symbol, Restorer | undefined>)[GATEWAY_RESTORER];
}

/** The restore side for a plugin instance; `restart` only inside a gateway. */
function restorerFor(plugin: ClawbackPlugin, stateDir: string, logger: Logger, restart?: (reason: string) => void): Restorer {
  return new Restorer({
    settings: plugin.settings, ...(plugin.configError ? { configError: plugin.configError } : {}), stateDir, logger,
    backupRunning: () => plugin.backupRunning, holdBackups: (until) => plugin.holdBackups(until), ...(restart ? { restart } : {}),
    ...(process.argv[1] ? { openclawEntry: process.argv[1] } : {}),
  });
}

function registerTool(api: OpenClawPluginApi, plugin: () => ClawbackPlugin, restorer: () => Restorer): void {
  const tool = {
    name: TOOL_NAME,
    label: "Backups (clawback)",
    description: TOOL_DESCRIPTION,
    parameters: TOOL_PARAMETERS,
    execute: (_toolCallId: string, params: ToolParams) => runTool(plugin(), params, restorer()),
  };
  // The SDK types parameters as a TypeBox schema; a plain JSON Schema is what TypeBox produces.
  api.registerTool(tool as unknown as AnyTool);
}

export default definePluginEntry({
  id: "clawback",
  name: "clawback",
  description: "Encrypted, deduplicated backups of the OpenClaw state to Backblaze B2, by themselves",
  register(api: OpenClawPluginApi) {
    const mode = api.registrationMode;
    runEngineFrom(api.rootDir);
    if (mode === "cli-metadata" || mode === "discovery" || mode === "full") {
      api.registerCli(
        ({ program }) => registerClawbackCli({ program: program as unknown as CommandLike, pluginConfig: api.pluginConfig, stateDir: mode === "cli-metadata" ? undefined : stateDirOf(api) }),
        { descriptors: [{ name: "clawback", description: "Encrypted backups of this OpenClaw state to B2 (status, push, log)", hasSubcommands: true }] },
      );
    }
    if (mode === "tool-discovery") {
      let lazy: ClawbackPlugin | undefined;
      let lazyRestorer: Restorer | undefined;
      const plugin = () => (lazy ??= new ClawbackPlugin(api.pluginConfig, stateDirOf(api), loggerOf(api)));
      registerTool(api, plugin, () => gatewayRestorer() ?? (lazyRestorer ??= restorerFor(plugin(), stateDirOf(api), loggerOf(api))));
      return;
    }
    if (mode !== "full") return;

    const logger = loggerOf(api);
    const plugin = new ClawbackPlugin(api.pluginConfig, stateDirOf(api), logger);
    const problem = plugin.configProblem();
    if (problem) logger.error(problem);
    // A restore that wrote live databases restarts the gateway in-process, so that its in-memory
    // caches read the restored state (DESIGN.md, "Restoring under a running gateway").
    let autoRestoreDir: string | undefined;
    const restorer = restorerFor(plugin, stateDirOf(api), logger, (reason) => {
      logger.info(`clawback: restarting the gateway (${reason})`);
      process.kill(process.pid, "SIGUSR2");
    });
    gatewayRestorer()?.dispose();
    (globalThis as Record<symbol, Restorer | undefined>)[GATEWAY_RESTORER] = restorer;
    registerTool(api, () => plugin, () => restorer);

    // Backups wait for the auto-restore (decided at gateway_start): see Backups.holdUntil.
    // Should gateway_start never come, backups start after AUTO_RESTORE_HOLD_MS all the same.
    let autoRestoreDone!: () => void;
    const autoRestoreSettled = new Promise<void>((resolve) => {
      autoRestoreDone = resolve;
      setTimeout(resolve, AUTO_RESTORE_HOLD_MS).unref();
    });
    api.registerService({
      id: "clawback-backups",
      start: (ctx) => {
        plugin.start(ctx.stateDir, autoRestoreSettled);
        autoRestoreDir = ctx.stateDir;
      },
      stop: () => plugin.stop(),
    });
    // Turns are counted so that a restore that rolls back databases runs only when none is running.
    api.on("before_agent_run", (_event, ctx) => restorer.onRunStart(ctx.runId));
    api.on("agent_end", (event, ctx) => restorer.onRunEnd(ctx.runId ?? event.runId));
    // A new machine restores itself once the gateway is up (not during its startup maintenance).
    api.on("gateway_start", () => {
      void restorer.autoRestore(autoRestoreDir ?? stateDirOf(api)).finally(autoRestoreDone);
    });
    api.on("gateway_stop", (event) => plugin.onGatewayStop(event.reason));
    api.on("before_compaction", () => plugin.onBeforeCompaction());
  },
});
