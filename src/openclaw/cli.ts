// `openclaw clawback status | push [--dry-run] [--json] | log [--json]`: the plugin's commands in
// the openclaw CLI. They run in the CLI's own process, whether or not a gateway runs, and reach
// the repository through an engine child of their own, as the gateway does.
import * as os from "node:os";
import * as path from "node:path";
import { ClawbackPlugin } from "./plugin.ts";
import { EngineProcess } from "./engine/client.ts";
import { formatBytes, type Logger } from "./backups.ts";
import { registerRestoreCli } from "./restore/restore-cli.ts";

/** The part of Commander's Command these commands use (the CLI hands a real Command). */
export interface CommandLike {
  command(name: string): CommandLike;
  description(text: string): CommandLike;
  option(flags: string, description: string): CommandLike;
  action(fn: (...args: unknown[]) => void | Promise<void>): CommandLike;
}

export interface CliContext {
  program: CommandLike;
  pluginConfig: Record<string, unknown> | undefined;
  stateDir: string | undefined;
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OPENCLAW_STATE_DIR || path.join(os.homedir(), ".openclaw");
}

const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`${m}\n`),
  error: (m) => process.stderr.write(`${m}\n`),
};

function print(json: boolean, value: { text: string; details: unknown }): void {
  process.stdout.write(json ? `${JSON.stringify(value.details, null, 2)}\n` : `${value.text}\n`);
}

function optsOf(args: unknown[]): { json?: boolean; dryRun?: boolean } {
  // Commander passes (options, command) to an action without arguments.
  return (args[0] ?? {}) as { json?: boolean; dryRun?: boolean };
}

export function registerClawbackCli(ctx: CliContext): void {
  const make = () => new ClawbackPlugin(ctx.pluginConfig, ctx.stateDir ?? defaultStateDir(), stderrLogger);
  const root = ctx.program.command("clawback").description("Encrypted, deduplicated backups of this OpenClaw state to B2 (clawback)");

  root
    .command("status")
    .description("The last backup, the next one, the last error, and the space used")
    .option("--json", "print the details as JSON")
    .action(async (...args) => {
      const plugin = make();
      const answer = await plugin.status();
      print(!!optsOf(args).json, answer);
      if (plugin.configError) process.exitCode = 2;
    });

  root
    .command("log")
    .description("The snapshots in the repository, newest first")
    .option("--json", "print the details as JSON")
    .action(async (...args) => {
      const plugin = make();
      if (plugin.configError) {
        process.stderr.write(`clawback: ${plugin.configError}\n`);
        process.exitCode = 2;
        return;
      }
      print(!!optsOf(args).json, await plugin.list(1000));
    });

  root
    .command("push")
    .description("Back up the state folder now (works with the gateway stopped)")
    .option("--dry-run", "check the key and the bucket, upload nothing")
    .option("--json", "print the result as JSON")
    .action(async (...args) => {
      const { json, dryRun } = optsOf(args);
      const plugin = make();
      if (!plugin.settings) {
        process.stderr.write(`clawback: ${plugin.configError}\n`);
        process.exitCode = 2;
        return;
      }
      if (dryRun) {
        const result = await checkAccess(plugin);
        print(!!json, result);
        if (!result.details.ok) process.exitCode = 1;
        return;
      }
      const out = await plugin.backup("manual");
      if (out.ok) {
        const s = out.snapshot;
        print(!!json, { text: `snapshot ${s.id.slice(0, 12)} (manual): ${s.stats.files} files, added ${formatBytes(s.stats.addedBytes)} in ${(s.stats.durationMs / 1000).toFixed(1)} s`, details: out });
      } else {
        print(!!json, { text: `backup failed: ${out.error}`, details: out });
        process.exitCode = 1;
      }
    });

  registerRestoreCli(root, make, ctx.stateDir ?? defaultStateDir(), stderrLogger);
}

/** Opens the repository without creating it: proves the key, the bucket and the passphrase. */
async function checkAccess(plugin: ClawbackPlugin): Promise<{ text: string; details: { ok: boolean; url: string; repository?: string; message?: string } }> {
  const url = plugin.settings!.target.url;
  const engine = new EngineProcess();
  try {
    const opened = await engine.request({ op: "open", target: plugin.settings!.target, create: false });
    return { text: `ok: ${url} opens (repository ${opened.repositoryId.slice(0, 12)}); nothing uploaded`, details: { ok: true, url, repository: opened.repositoryId } };
  } catch (err) {
    const name = (err as { engineError?: string }).engineError;
    if (name === "RepositoryNotFoundError") return { text: `ok: ${url} is reachable and holds no repository yet (the first backup creates it); nothing uploaded`, details: { ok: true, url } };
    const message = err instanceof Error ? err.message : String(err);
    return { text: `cannot use ${url}: ${message}`, details: { ok: false, url, message } };
  } finally {
    await engine.close();
  }
}
