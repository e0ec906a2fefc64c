// `openclaw clawback restore | show | diff`: the restore side on the command line, in the CLI's own
// process, with or without a running gateway (the engine child does the work, as in the gateway).
// With the gateway stopped this is the offline restore; with it running, the databases are still
// written safely (through SQLite), but the gateway keeps stale caches until it restarts, so the
// command says to restart it (from chat, the tool does that by itself after the turn).
import type { Logger } from "../backups.ts";
import type { CommandLike } from "../cli.ts";
import type { ClawbackPlugin } from "../plugin.ts";
import { Restorer } from "./restorer.ts";

function print(json: boolean, value: { text: string; details: unknown }): void {
  process.stdout.write(json ? `${JSON.stringify(value.details, null, 2)}\n` : `${value.text}\n`);
}

/** Commander hands an action its positional arguments, then the options, then the command. */
function argsOf(args: unknown[]): { words: string[]; opts: { json?: boolean; path?: string[]; against?: string } } {
  const words = Array.isArray(args[0]) ? (args[0] as string[]) : typeof args[0] === "string" ? [args[0]] : [];
  return { words, opts: (args[1] ?? {}) as { json?: boolean; path?: string[]; against?: string } };
}

export function registerRestoreCli(root: CommandLike, make: () => ClawbackPlugin, stateDir: string, logger: Logger): void {
  const restorerOf = (plugin: ClawbackPlugin): Restorer | undefined => {
    if (!plugin.settings) {
      process.stderr.write(`clawback: ${plugin.configError}\n`);
      process.exitCode = 2;
      return undefined;
    }
    return new Restorer({ settings: plugin.settings, stateDir, logger, backupRunning: () => false });
  };

  root
    .command("restore [snapshot...]")
    .description("Restore a snapshot into this state folder, whole or some paths (after a safety snapshot); works with the gateway stopped")
    .option("--path <paths...>", "restore only these paths of the state folder (e.g. workspace/MEMORY.md)")
    .option("--json", "print the result as JSON")
    .action(async (...args) => {
      const { words, opts } = argsOf(args);
      const restorer = restorerOf(make());
      if (!restorer) return;
      try {
        const a = await restorer.restore({ ...(words.length ? { snapshot: words.join(" ") } : {}), paths: opts.path ?? [], origin: "cli" });
        const ok = (a.details as { ok?: boolean }).ok !== false;
        const restart = ok && ((a.details as { databases?: string[] }).databases?.length ?? 0) > 0
          ? "\nIf the gateway is running, restart it now (openclaw gateway restart) so it reads the restored databases."
          : "";
        print(!!opts.json, { text: a.text + restart, details: a.details });
        if (!ok) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`clawback: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = (err as { exitCode?: number }).exitCode ?? 1;
      }
    });

  root
    .command("show [snapshot...]")
    .description("One snapshot: when, why, what it holds (default: the latest)")
    .option("--json", "print the details as JSON")
    .action(async (...args) => {
      const { words, opts } = argsOf(args);
      const restorer = restorerOf(make());
      if (!restorer) return;
      print(!!opts.json, await restorer.show(words.join(" ")));
    });

  root
    .command("diff [snapshot...]")
    .description("What changed from a snapshot to now (or to --against another snapshot)")
    .option("--against <snapshot>", "the other snapshot instead of the state as it is now")
    .option("--json", "print the details as JSON")
    .action(async (...args) => {
      const { words, opts } = argsOf(args);
      const restorer = restorerOf(make());
      if (!restorer) return;
      print(!!opts.json, await restorer.diff(words.join(" "), opts.against));
    });
}
