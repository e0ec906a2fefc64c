// The real `clawback` command (src/cli/main.ts, run by node, which strips the types) as a child
// process, for the torture suites: run to the end, or SIGKILLed after a given delay.

import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const CLI_MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export interface CliRun {
  args: string[];
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
  ms: number;
  /** True when the harness killed the process (it may have finished first: then false). */
  killed: boolean;
}

export interface CliRunOptions {
  env: NodeJS.ProcessEnv;
  /** SIGKILL the process this many milliseconds after it started, if it is still running. */
  killAfterMs?: number;
  /** Fail (reject) when the process runs longer than this: a hang is a failure, not a wait. */
  timeoutMs?: number;
  cwd?: string;
}

/**
 * A clean environment for a child: the caller's environment without CLAWBACK_* settings, with a
 * V8 code cache under `base` (every child compiles the same modules; the cache halves the start
 * of the later ones) and XDG_CACHE_HOME there too.
 */
export function childEnv(base: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CLAWBACK_") && !k.startsWith("AWS_")) env[k] = v;
  env.XDG_CACHE_HOME = path.join(base, "xdg-cache");
  env.NODE_COMPILE_CACHE = path.join(base, "node-compile-cache");
  return { ...env, ...extra };
}

export function runCli(args: string[], opts: CliRunOptions): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let killed = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const killer = opts.killAfterMs === undefined ? undefined : setTimeout(() => {
      if (child.exitCode === null) {
        killed = true;
        child.kill("SIGKILL");
      }
    }, opts.killAfterMs);
    const hang = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`clawback ${args.join(" ")} did not finish within ${opts.timeoutMs} ms (a hang); stderr: ${stderr}`));
    }, opts.timeoutMs ?? 180_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      clearTimeout(hang);
      resolve({ args, code, signal, stdout, stderr, pid: child.pid!, ms: Date.now() - started, killed: killed && signal === "SIGKILL" });
    });
  });
}

/** One line describing a finished run, for failure messages. */
export function describeRun(r: CliRun): string {
  const how = r.signal ? `killed (${r.signal}) after ${r.ms} ms` : `exit ${r.code} after ${r.ms} ms`;
  return `clawback ${r.args.join(" ")}: ${how}${r.stderr ? `\n  stderr: ${r.stderr.trim().slice(0, 2000)}` : ""}`;
}

/**
 * The same command in this process (src/cli/main.ts's main with captured streams): the same code
 * from argument parsing to exit code, without a node start-up per case (about 1-2 s each on a
 * busy 2-core machine). Stdin is the test runner's, never a terminal.
 */
export async function runCliInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  const { main } = await import("../../src/cli/main.ts");
  let stdout = "";
  let stderr = "";
  const started = Date.now();
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  });
  return { args, code, signal: null, stdout, stderr, pid: process.pid, ms: Date.now() - started, killed: false };
}
