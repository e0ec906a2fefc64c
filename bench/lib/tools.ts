// The backup tools under test, behind one small interface: clawback (this repository's CLI), restic
// and borg. Each runs as a child process; wall time and peak RSS are measured per run.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { duBytes } from "./fsutil.ts";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const CLAWBACK_CLI = join(REPO_ROOT, "src", "cli", "main.ts");
let clawbackCli = CLAWBACK_CLI;

/**
 * Copy this repository's clawback (src/, wasm/, bin/, package.json; node_modules linked) into
 * `dir`, compile it there as `npm install` does for users (dist/, plain JavaScript: no type
 * stripping at each start), run it through bin/clawback.js as the `clawback` command does, and
 * use that copy for the rest of the run: the working tree may change while a long bench runs, and
 * one run should measure one version. Returns a description of the version.
 */
export function freezeClawback(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(REPO_ROOT, "src"), join(dir, "src"), { recursive: true });
  cpSync(join(REPO_ROOT, "wasm"), join(dir, "wasm"), { recursive: true });
  cpSync(join(REPO_ROOT, "bin"), join(dir, "bin"), { recursive: true });
  cpSync(join(REPO_ROOT, "package.json"), join(dir, "package.json"));
  symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"));
  execFileSync(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(REPO_ROOT, "tsconfig.build.json"), "--outDir", join(dir, "dist")]);
  clawbackCli = join(dir, "bin", "clawback.js");
  return describeClawback();
}

export function describeClawback(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "wasm"], { cwd: REPO_ROOT, encoding: "utf8" }).trim() !== "";
    return `clawback ${head}${dirty ? " + uncommitted changes in src/" : ""}`;
  } catch {
    return "clawback (version unknown)";
  }
}
const TIME_BIN = "/usr/bin/time";
const FAKETIME_LIB = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"].find((p) => existsSync(p));
const PASSWORD = "bench-password-not-secret";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak resident set size of the process, bytes (0 if it could not be measured). */
  peakRss: number;
  /** User plus system CPU time of the process and its threads, ms (NaN without GNU time). */
  cpuMs: number;
}

export function which(cmd: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

export const hasGnuTime = existsSync(TIME_BIN) && spawnSync(TIME_BIN, ["-v", "true"], { encoding: "utf8" }).stderr.includes("Maximum resident set size");
export const hasFaketime = FAKETIME_LIB !== undefined;

/**
 * Run a command, measuring wall time and peak RSS: with GNU time (`/usr/bin/time -v`) when
 * present, else by polling /proc/<pid>/status for VmHWM.
 */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  const timeFile = join(tmpdir(), `bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const [file, argv] = hasGnuTime ? [TIME_BIN, ["-v", "-o", timeFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let hwm = 0;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? "");
    const poll = hasGnuTime
      ? null
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
            if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
          } catch {
            // process gone
          }
        }, 20);
    child.on("error", reject);
    child.on("close", (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (poll) clearInterval(poll);
      let peakRss = hwm;
      let cpuMs = NaN;
      if (hasGnuTime && existsSync(timeFile)) {
        const t = readFileSync(timeFile, "utf8");
        rmSync(timeFile, { force: true });
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(t);
        if (m) peakRss = Number(m[1]) * 1024;
        const user = /User time \(seconds\): ([\d.]+)/.exec(t);
        const sys = /System time \(seconds\): ([\d.]+)/.exec(t);
        if (user && sys) cpuMs = (Number(user[1]) + Number(sys[1])) * 1000;
        const st = /Exit status: (\d+)/.exec(t);
        if (st) code = Number(st[1]);
      }
      resolvePromise({ code: code ?? 1, stdout, stderr, wallMs, peakRss, cpuMs });
    });
  });
}

function check(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-1000)}`);
  return r;
}

export interface Tool {
  readonly name: string;
  /** Where the repository lives (its size on disk is what the tool stores). */
  readonly repo: string;
  init(): Promise<void>;
  /** Back up `src`; `timeMs` is the simulated time of the snapshot (for retention). */
  backup(src: string, timeMs?: number): Promise<RunResult>;
  /** Restore the latest snapshot into the empty folder `target`. */
  restore(target: string): Promise<RunResult>;
  /** Apply retention (keep-daily, keep-weekly) and free the space. */
  retain(keepDaily: number, keepWeekly: number): Promise<RunResult[]>;
  storedBytes(): number;
}

export function toolAvailability(): Record<string, string | null> {
  return {
    clawback: existsSync(CLAWBACK_CLI) ? null : `clawback CLI not found at ${CLAWBACK_CLI}`,
    restic: which("restic") ? null : "restic not installed (apt-get install restic)",
    borg: which("borg") ? null : "borg not installed (apt-get install borgbackup)",
  };
}

function simTimeEnv(timeMs: number | undefined): NodeJS.ProcessEnv {
  if (timeMs === undefined || !FAKETIME_LIB) return {};
  const d = new Date(timeMs).toISOString().replace("T", " ").slice(0, 19);
  return { LD_PRELOAD: FAKETIME_LIB, FAKETIME: `@${d}`, FAKETIME_DONT_FAKE_MONOTONIC: "1", TZ: "UTC" };
}

/** A repository elsewhere than a local folder: its URL and the environment that reaches it (s3://…). */
export interface ClawbackStore {
  url: string;
  env: Record<string, string>;
}

export class Clawback implements Tool {
  readonly name = "clawback";
  readonly repo: string;
  /** The index cache folder (one repository's cache under it). */
  readonly cache: string;
  private readonly store: ClawbackStore | undefined;
  constructor(work: string, store?: ClawbackStore) {
    this.repo = store?.url ?? join(work, "clawback-repo");
    this.cache = join(work, "clawback-cache");
    this.store = store;
  }
  private cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<RunResult> {
    if (!existsSync(clawbackCli)) throw new Error(`clawback CLI not found at ${clawbackCli} (src/cli/main.ts): the clawback column cannot run yet`);
    return run(process.execPath, [clawbackCli, ...args, "--repo", this.repo, "--cache-dir", this.cache], { env: { CLAWBACK_PASSPHRASE: PASSWORD, ...this.store?.env, ...env }, ...(cwd ? { cwd } : {}) });
  }
  /** Any clawback command against this repository, with `--requests` (its line is the last of stderr); throws on failure. */
  async command(args: string[]): Promise<RunResult> {
    return check(await this.cli([...args, "--requests"]), `clawback ${args[0] ?? ""}`);
  }
  async init(): Promise<void> {
    if (!this.store) rmSync(this.repo, { recursive: true, force: true });
    rmSync(this.cache, { recursive: true, force: true });
    check(await this.cli(["init"]), "clawback init");
  }
  async backup(src: string, timeMs?: number): Promise<RunResult> {
    return check(await this.cli(["commit", src, "--reason", "bench", "--json"], simTimeEnv(timeMs)), "clawback commit");
  }
  async restore(target: string): Promise<RunResult> {
    return check(await this.cli(["checkout", "latest", target]), "clawback checkout");
  }
  async retain(keepDaily: number, keepWeekly: number): Promise<RunResult[]> {
    const a = check(await this.cli(["forget", "--keep-daily", String(keepDaily), "--keep-weekly", String(keepWeekly)]), "clawback forget");
    const b = check(await this.cli(["prune"]), "clawback prune");
    return [a, b];
  }
  storedBytes(): number {
    return this.store ? NaN : duBytes(this.repo);
  }
  /** `clawback stats --json` (storedBytes, logicalBytes, ...), or null if it fails. */
  async stats(): Promise<Record<string, unknown> | null> {
    const r = await this.cli(["stats", "--json"]);
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      return null;
    }
  }
}

class Restic implements Tool {
  readonly name = "restic";
  readonly repo: string;
  private readonly cache: string;
  constructor(work: string) {
    this.repo = join(work, "restic-repo");
    this.cache = join(work, "restic-cache");
  }
  private cli(args: string[], cwd?: string): Promise<RunResult> {
    return run("restic", [...args, "--cache-dir", this.cache, "-q"], { env: { RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: this.repo, RESTIC_PROGRESS_FPS: "0.1" }, ...(cwd ? { cwd } : {}) });
  }
  async init(): Promise<void> {
    rmSync(this.repo, { recursive: true, force: true });
    rmSync(this.cache, { recursive: true, force: true });
    check(await this.cli(["init", "--repository-version", "2"]), "restic init");
  }
  async backup(src: string, timeMs?: number): Promise<RunResult> {
    const time = timeMs === undefined ? [] : ["--time", new Date(timeMs).toISOString().replace("T", " ").slice(0, 19)];
    return check(await this.cli(["backup", src, "--host", "bench", "--compression", "auto", ...time]), "restic backup");
  }
  async restore(target: string): Promise<RunResult> {
    return check(await this.cli(["restore", "latest", "--target", target]), "restic restore");
  }
  async retain(keepDaily: number, keepWeekly: number): Promise<RunResult[]> {
    return [check(await this.cli(["forget", "--keep-daily", String(keepDaily), "--keep-weekly", String(keepWeekly), "--prune"]), "restic forget --prune")];
  }
  storedBytes(): number {
    return duBytes(this.repo);
  }
}

class Borg implements Tool {
  readonly name = "borg";
  readonly repo: string;
  private readonly base: string;
  private n = 0;
  constructor(work: string) {
    this.repo = join(work, "borg-repo");
    this.base = join(work, "borg-home");
  }
  private cli(args: string[], cwd?: string): Promise<RunResult> {
    return run("borg", args, {
      env: {
        BORG_PASSPHRASE: PASSWORD,
        BORG_REPO: this.repo,
        BORG_BASE_DIR: this.base,
        BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
        BORG_CHECK_I_KNOW_WHAT_I_AM_DOING: "YES",
      },
      ...(cwd ? { cwd } : {}),
    });
  }
  async init(): Promise<void> {
    rmSync(this.repo, { recursive: true, force: true });
    rmSync(this.base, { recursive: true, force: true });
    mkdirSync(this.base, { recursive: true });
    // repokey (HMAC-SHA256) where the CPU has SHA instructions, else the faster-in-software BLAKE2b mode.
    const sha = existsSync("/proc/cpuinfo") && /\bsha_ni\b/.test(readFileSync("/proc/cpuinfo", "utf8"));
    check(await this.cli(["init", "--encryption", sha ? "repokey" : "repokey-blake2"]), "borg init");
  }
  async backup(src: string, timeMs?: number): Promise<RunResult> {
    const name = `s${++this.n}`;
    const ts = timeMs === undefined ? [] : ["--timestamp", new Date(timeMs).toISOString().slice(0, 19)];
    // Archive the folder's content relative to itself, so extract recreates it in place.
    return check(await this.cli(["create", "--compression", "zstd,3", ...ts, `::${name}`, "."], src), "borg create");
  }
  async restore(target: string): Promise<RunResult> {
    mkdirSync(target, { recursive: true });
    return check(await this.cli(["extract", `::s${this.n}`], target), "borg extract");
  }
  async retain(keepDaily: number, keepWeekly: number): Promise<RunResult[]> {
    const a = check(await this.cli(["prune", "--keep-daily", String(keepDaily), "--keep-weekly", String(keepWeekly)]), "borg prune");
    const b = check(await this.cli(["compact"]), "borg compact");
    return [a, b];
  }
  storedBytes(): number {
    return duBytes(this.repo);
  }
}

export function makeTool(name: string, work: string): Tool {
  if (name === "clawback") return new Clawback(work);
  if (name === "restic") return new Restic(work);
  if (name === "borg") return new Borg(work);
  throw new Error(`unknown tool ${name}`);
}

