// The plugin's side of the engine child: forks child.ts, sends requests, and turns the child's
// death into a rejected request. Nothing here touches the repository or the state folder itself.
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ClawbackError } from "../../errors.ts";
import type { EngineMessage, EngineRequest, ReplyMap } from "./protocol.ts";

/** The engine child ended (crashed, was killed) before it answered. */
class EngineExitedError extends ClawbackError {}

/** A request failed inside the child; `name` is the engine's error class. */
class EngineRequestError extends ClawbackError {
  readonly engineError: string;
  override readonly exitCode: number;
  constructor(name: string, message: string, exitCode: number) {
    super(message);
    this.engineError = name;
    this.exitCode = exitCode;
  }
}

// Built: dist/openclaw/engine/child.js; from the sources (tests): child.ts, run by Node's type stripping.
let childPath = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./child.ts" : "./child.js", import.meta.url));
const CHILD_IN_PACKAGE = path.join("dist", "openclaw", "engine", "child.js");

/**
 * Runs the child from the plugin's installed folder (OpenClaw's `api.rootDir`) rather than from
 * where this module was loaded: OpenClaw 2026.9.6 loads a plugin from a copy under
 * <state>/tmp/plugin-captures/ and deletes that copy when the gateway restarts in-process, and a
 * child started from it then fails to load its wasm kernel or a worker mid-backup (seen: ENOENT
 * on grouphash.wasm). Without that folder (tests run the sources), the module's own path stays.
 */
export function runEngineFrom(pluginRoot: string | undefined): void {
  if (!pluginRoot) return;
  const candidate = path.join(pluginRoot, CHILD_IN_PACKAGE);
  if (existsSync(candidate)) childPath = candidate;
}

export interface EngineOptions {
  /** Environment of the child (default: this process's). Never put credentials in argv. */
  env?: NodeJS.ProcessEnv;
  /** Called once the child runs, with its pid (the plugin logs it). */
  onSpawn?: (pid: number) => void;
}

export class EngineProcess {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exitError: Error | undefined;
  readonly exited: Promise<void>;

  constructor(opts: EngineOptions = {}) {
    this.child = fork(childPath, [], {
      env: opts.env ?? process.env,
      // No inspector or loader flags of the parent: the child is a plain Node process, with a young
      // generation of 4 MiB semi-spaces (8 MiB of new space, the CLI's cap: bench/README.md,
      // "Commit memory"), where node's default lets a commit grow it to 32-48 MiB that stay resident.
      execArgv: ["--max-semi-space-size=4"],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    this.child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-2000);
    });
    if (this.child.pid !== undefined) opts.onSpawn?.(this.child.pid);
    this.child.on("message", (raw) => this.onMessage(raw as EngineMessage));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = stderr.trim().split("\n").slice(-1)[0];
        this.exitError = new EngineExitedError(`the backup engine process ${how}${tail ? ` (${tail})` : ""}`);
        for (const p of this.pending.values()) p.reject(this.exitError);
        this.pending.clear();
        resolve();
      });
      this.child.on("error", (err) => {
        this.exitError = new EngineExitedError(`the backup engine process failed: ${err.message}`);
        for (const p of this.pending.values()) p.reject(this.exitError);
        this.pending.clear();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  request<K extends EngineRequest["op"]>(req: Extract<EngineRequest, { op: K }>): Promise<ReplyMap[K]> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<ReplyMap[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, ...req }, (err) => {
        if (err && this.pending.delete(id)) reject(new EngineExitedError(`could not reach the backup engine process: ${err.message}`));
      });
    });
  }

  /** Closes the channel; the child closes the repository and exits. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  private onMessage(msg: EngineMessage): void {
    if ("event" in msg) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new EngineRequestError(msg.error.name, msg.error.message, msg.error.exitCode));
  }
}
