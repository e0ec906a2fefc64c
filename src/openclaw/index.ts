// The OpenClaw plugin's entry (package.json "openclaw.extensions"). OpenClaw evaluates this module
// more than once per process and calls register() in several modes: nothing happens at the top
// level, and schedules, hooks and services are set up only in "full" mode (the gateway).
import { definePluginEntry, type OpenClawPluginApi } from "openclaw/plugin-sdk/plugin-entry";
import { ClawbackPlugin } from "./plugin.ts";
import { registerClawbackCli, defaultStateDir, type CommandLike } from "./cli.ts";
import { TOOL_DESCRIPTION, TOOL_NAME, TOOL_PARAMETERS, runTool, type ToolParams } from "./tool.ts";
import type { Logger } from "./backups.ts";

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

function registerTool(api: OpenClawPluginApi, plugin: () => ClawbackPlugin): void {
  const tool = {
    name: TOOL_NAME,
    label: "Backups (clawback)",
    description: TOOL_DESCRIPTION,
    parameters: TOOL_PARAMETERS,
    execute: (_toolCallId: string, params: ToolParams) => runTool(plugin(), params),
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
    if (mode === "cli-metadata" || mode === "discovery" || mode === "full") {
      api.registerCli(
        ({ program }) => registerClawbackCli({ program: program as unknown as CommandLike, pluginConfig: api.pluginConfig, stateDir: mode === "cli-metadata" ? undefined : stateDirOf(api) }),
        { descriptors: [{ name: "clawback", description: "Encrypted backups of this OpenClaw state to B2 (status, push, log)", hasSubcommands: true }] },
      );
    }
    if (mode === "tool-discovery") {
      let lazy: ClawbackPlugin | undefined;
      registerTool(api, () => (lazy ??= new ClawbackPlugin(api.pluginConfig, stateDirOf(api), loggerOf(api))));
      return;
    }
    if (mode !== "full") return;

    const logger = loggerOf(api);
    const plugin = new ClawbackPlugin(api.pluginConfig, stateDirOf(api), logger);
    const problem = plugin.configProblem();
    if (problem) logger.error(problem);
    registerTool(api, () => plugin);

    api.registerService({
      id: "clawback-backups",
      start: (ctx) => plugin.start(ctx.stateDir),
      stop: () => plugin.stop(),
    });
    api.on("gateway_stop", (event) => plugin.onGatewayStop(event.reason));
    api.on("before_compaction", () => plugin.onBeforeCompaction());
  },
});
