import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));

/**
 * Starts crash-child.ts in `mode` and waits for its "ready" line; returns the child and what it
 * printed after "ready". Kill it with killHard.
 */
export function startCrashChild(mode: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(process.execPath, [CHILD, mode, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const line = /^ready ?(.*)\n/m.exec(out);
      if (line) resolve({ child, said: line[1]! });
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("exit", (code) => reject(new Error(`crash child (${mode}) exited with ${code} before it was ready: ${err}`)));
  });
}

/** SIGKILLs the child (as a crash would end it) and waits until it is gone. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
