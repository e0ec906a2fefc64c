// A real OpenClaw gateway for tests (openclaw@2026.9.6 from node_modules, on the Node 24 that runs
// the tests), headless and offline on loopback, each with its own state folder, home, port and
// log file, as DESIGN.md ("Running a real gateway in tests") measured:
//
//   const gw = await createGateway("cron");                    // folders only, nothing runs yet
//   await gw.configure(mockModelConfig(model.baseUrl));        // openclaw config set --batch-file
//   await gw.cli(["plugins", "install", "-l", ROOT, "--force", "--accept-capabilities"]);
//   await gw.start();                                          // gateway run, waits for /readyz
//   await gw.cli(["agent", "--agent", "main", "--message", "hi", "--json"]);
//   const { code, ms } = await gw.stop();                      // SIGTERM, exit code, time
//
// Every gateway made here is killed (SIGKILL) in afterAll if a test did not stop it, and its
// folders are removed.

import { spawn, execFile, type ChildProcess } from "node:child_process";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

export const PROJECT_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const OPENCLAW_BIN = path.join(PROJECT_ROOT, "node_modules", ".bin", "openclaw");
const GATEWAY_TOKEN = "clawback-test-gateway-token";

export interface ConfigOp {
  path: string;
  value: unknown;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From the signal to the exit, in milliseconds. */
  ms: number;
}

export interface Gateway {
  /** The folder holding state/, home/ and the gateway's log. */
  root: string;
  stateDir: string;
  home: string;
  port: number;
  logFile: string;
  /** The gateway's process id while it runs. */
  pid: number | undefined;
  /** Environment for any process that should see this gateway's state (CLI, engine). */
  env: Record<string, string>;
  configure(ops: ConfigOp[]): Promise<void>;
  cli(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<CliResult>;
  /** Starts `openclaw gateway run` and waits until /readyz answers 200. */
  start(opts?: { timeoutMs?: number }): Promise<void>;
  /** Resolves once GET /readyz answers 200 (after a SIGUSR2 restart, say). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM) and waits for the exit (SIGKILL after timeoutMs). */
  stop(opts?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<StopResult>;
  /** True while the gateway process is alive. */
  running(): boolean;
  /** The gateway's log so far (JSON lines, as OpenClaw writes them) plus its stdout and stderr. */
  log(): Promise<string>;
  /** Resolves when the log (file or output) matches, polling. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Runs one tool in the gateway without a model: OpenClaw's `POST /tools/invoke` (operator token,
   * session `main`). Returns the HTTP status and the parsed answer ({ ok, result } or { ok, error }).
   */
  invokeTool(name: string, args: Record<string, unknown>, timeoutMs?: number): Promise<{ status: number; body: unknown }>;
  /** Removes the folders (the gateway must be stopped). */
  remove(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; root: string }>();
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  // Outside vitest (bench/plugin.ts) there is no afterAll: the caller stops its gateways itself.
  if (!process.env.VITEST) return;
  afterAll(async () => {
    for (const g of live) {
      if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill("SIGKILL");
      await fs.rm(g.root, { recursive: true, force: true }).catch(() => {});
    }
    live.clear();
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Environment with Node 24 (the one running the tests) first on PATH and no inherited OpenClaw settings. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k.startsWith("OPENCLAW_") || k.startsWith("B2_") || k.startsWith("VITEST") || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`;
  return env;
}

/**
 * Configuration that points the gateway at a mock model (mock-model.ts) and sets local mode and a
 * token, as measured in DESIGN.md.
 */
export function mockModelConfig(baseUrl: string): ConfigOp[] {
  return [
    { path: "gateway.mode", value: "local" },
    { path: "gateway.auth", value: { mode: "token", token: GATEWAY_TOKEN } },
    { path: "models.mode", value: "merge" },
    {
      path: "models.providers.mock",
      value: {
        baseUrl,
        apiKey: "mock-api-key",
        api: "openai-completions",
        models: [{ id: "mock-1", name: "Mock", reasoning: false, input: ["text"], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 128000, maxTokens: 4096 }],
      },
    },
    { path: "agents.defaults.model", value: { primary: "mock/mock-1" } },
    // Plugin tools as plain function tools (the default tool search reaches them through a
    // catalog id the mock would have to look up first).
    { path: "tools.toolSearch", value: false },
  ];
}

export async function createGateway(label: string): Promise<Gateway> {
  registerCleanup();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `clawback-gw-${label}-`));
  const stateDir = path.join(root, "state");
  const home = path.join(root, "home");
  await fs.mkdir(stateDir, { recursive: true });
  await fs.mkdir(home, { recursive: true });
  const port = await freePort();
  const logFile = path.join(root, "gateway.log");
  const env = { ...baseEnv(), OPENCLAW_STATE_DIR: stateDir, HOME: home, OPENCLAW_GATEWAY_PORT: String(port), OPENCLAW_GATEWAY_TOKEN: GATEWAY_TOKEN };
  let child: ChildProcess | undefined;
  let entry: { child: ChildProcess; root: string } | undefined;
  let output = "";
  // The log goes to this gateway's folder, not the machine-wide /tmp/openclaw: set with the first
  // configure() (each `config set` costs seconds here), or by start() when none came before.
  let logConfigured = false;

  const cli: Gateway["cli"] = (args, opts = {}) =>
    new Promise((resolve) => {
      execFile(OPENCLAW_BIN, args, { env: { ...env, ...opts.env }, cwd: root, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });

  const readLog = async () => {
    const file = await fs.readFile(logFile, "utf8").catch(() => "");
    return `${file}\n${output}`;
  };

  const gw: Gateway = {
    root,
    stateDir,
    home,
    port,
    logFile,
    get pid() {
      return child?.pid;
    },
    env,
    async configure(ops) {
      const file = path.join(root, `config-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
      const all = logConfigured ? ops : [{ path: "logging.file", value: logFile }, ...ops];
      await fs.writeFile(file, JSON.stringify(all));
      const r = await cli(["config", "set", "--batch-file", file]);
      await fs.rm(file, { force: true });
      if (r.code !== 0) throw new Error(`openclaw config set failed (${r.code}): ${r.stderr || r.stdout}`);
      logConfigured = true;
    },
    cli,
    async start(opts = {}) {
      // Measured on this machine under a load average of 25-30, with other gateways starting at
      // the same time: OpenClaw's startup maintenance can time out on its state lease and refuse
      // to start (exit 78, "state lease heartbeat did not become ready", "refused execution").
      // Another start on the same state comes up; up to three attempts.
      for (let attempt = 1; ; attempt++) {
        try {
          await startOnce(opts);
          return;
        } catch (err) {
          if (attempt >= 3 || !/heartbeat did not become ready|maintenance_required|refused execution|exited \(78\)/.test(String(err))) throw err;
          await new Promise((r) => setTimeout(r, 2000 + Math.random() * 8000));
        }
      }
    },
    async waitReady(timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (!gw.running()) throw new Error(`gateway exited (${child?.exitCode ?? child?.signalCode}) before it was ready:\n${output.slice(-4000)}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`gateway not ready after ${timeoutMs} ms:\n${output.slice(-4000)}`);
    },
    async stop(opts = {}) {
      const c = child;
      if (!c || !gw.running()) return { code: c?.exitCode ?? null, signal: c?.signalCode ?? null, ms: 0 };
      const started = Date.now();
      const exited = new Promise<StopResult>((resolve) => c.once("exit", (code, signal) => resolve({ code, signal, ms: Date.now() - started })));
      c.kill(opts.signal ?? "SIGTERM");
      const timer = setTimeout(() => c.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    log: readLog,
    async waitForLog(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await readLog();
        const m = pattern.exec(text);
        if (m) return m[0];
        if (Date.now() > deadline) throw new Error(`log did not show ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async invokeTool(name, args, timeoutMs = 300_000) {
      const res = await fetch(`http://127.0.0.1:${port}/tools/invoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${GATEWAY_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ tool: name, args }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      return { status: res.status, body };
    },
    async remove() {
      if (gw.running()) await gw.stop({ signal: "SIGKILL" });
      // Kept for whoever reads a failed run: /tmp/clawback-gw-logs/<label>-<time>.log.
      const keep = path.join(os.tmpdir(), "clawback-gw-logs");
      await fs.mkdir(keep, { recursive: true });
      await fs.writeFile(path.join(keep, `${label}-${Date.now()}.log`), await readLog()).catch(() => {});
      if (entry) live.delete(entry);
      await fs.rm(root, { recursive: true, force: true });
    },
  };
  async function startOnce(opts: { timeoutMs?: number }): Promise<void> {
    if (child && gw.running()) throw new Error("gateway already running");
    if (!logConfigured) await gw.configure([]);
    output = "";
    child = spawn(OPENCLAW_BIN, ["gateway", "run", "--allow-unconfigured", "--bind", "loopback", "--port", String(port)], { env, cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    entry = { child, root };
    live.add(entry);
    child.stdout!.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString("utf8")));
    await gw.waitReady(opts.timeoutMs ?? 600_000);
  }

  return gw;
}
