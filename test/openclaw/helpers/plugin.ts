// Puts the plugin into a test gateway the way a user of a checkout would: the project is built
// (tsc -p tsconfig.build.json, only when a source is newer than dist/) and linked with
// `openclaw plugins install -l <folder> --force --accept-capabilities`.
//
// The folder linked is a copy of the package's files (package.json, openclaw.plugin.json, dist/,
// wasm/build/) in <project>/tmp/openclaw-plugin-<pid>/: OpenClaw's install refuses a folder whose
// node_modules is a symlink leading outside it (ours is, in a worktree), and scanning a whole
// node_modules takes minutes here. The copy has no node_modules of its own, so Node resolves the
// plugin's dependencies from the project's, one folder up the tree.
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT, type Gateway } from "./gateway.ts";

const run = promisify(execFile);

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const st = await fs.stat(path.join(entry.parentPath, entry.name));
    newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

let built: Promise<string> | undefined;

/** Builds dist/ when a source file is newer than the built plugin entry; returns the folder to link. */
export function ensureBuilt(): Promise<string> {
  built ??= (async () => {
    const entry = path.join(PROJECT_ROOT, "dist", "openclaw", "index.js");
    const builtAt = await fs.stat(entry).then((s) => s.mtimeMs, () => 0);
    if (builtAt <= (await newestMtime(path.join(PROJECT_ROOT, "src")))) {
      await run(process.execPath, [path.join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: PROJECT_ROOT });
    }
    // A copy of this test process's own: a gateway of another test file, or its engine child,
    // must never see a copy being replaced (seen: the child's SQLite check worker missing).
    const copy = path.join(PROJECT_ROOT, "tmp", `openclaw-plugin-${process.pid}`);
    await fs.rm(copy, { recursive: true, force: true });
    await fs.mkdir(copy, { recursive: true });
    for (const item of ["package.json", "openclaw.plugin.json", "dist", "wasm/build"]) {
      await fs.cp(path.join(PROJECT_ROOT, item), path.join(copy, item), { recursive: true });
    }
    return copy;
  })();
  return built;
}

export interface PackedPlugin {
  /** The .tgz file. */
  tarball: string;
  /** Every path the tarball holds, relative to the package root (as `npm pack --json` lists them). */
  files: string[];
}

/**
 * `npm pack` of the project into `dest`, as `npm publish` would make it: dist/ is built first
 * (ensureBuilt), so the pack runs with --ignore-scripts rather than rebuilding in `prepare`.
 */
export async function packPlugin(dest: string, env: Record<string, string>): Promise<PackedPlugin> {
  await ensureBuilt();
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dest], { cwd: PROJECT_ROOT, env, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!packed) throw new Error(`npm pack printed no package: ${stdout}`);
  return { tarball: path.join(dest, packed.filename), files: packed.files.map((f) => f.path) };
}

/** Links the working tree's plugin into the gateway's state with `plugins install -l`, then writes its config. */
export async function installPlugin(gw: Gateway, config: Record<string, unknown>): Promise<void> {
  const folder = await ensureBuilt();
  const r = await gw.cli(["plugins", "install", "-l", folder, "--force", "--accept-capabilities"], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`plugins install failed (${r.code}): ${r.stderr || r.stdout}`);
  await gw.configure([{ path: "plugins.entries.clawback.config", value: config }]);
}

/**
 * What `plugins install -l` writes into openclaw.json (plugins.load.paths and the enabled entry),
 * as config operations to send with the gateway's other settings in one `config set`: each
 * openclaw CLI run costs 30 s to 2 min on this loaded machine, so most scenarios link the plugin
 * this way and one (backup-triggers) through the real install.
 */
export async function pluginConfigOps(config: Record<string, unknown>): Promise<{ path: string; value: unknown }[]> {
  const folder = await ensureBuilt();
  return [
    { path: "plugins.load.paths", value: [folder] },
    { path: "plugins.entries.clawback", value: { enabled: true, config } },
  ];
}

/** Lines of the gateway's log file (not its stdout, which repeats them) that mention clawback. */
export async function clawbackLines(gw: Gateway): Promise<string[]> {
  const text = await fs.readFile(gw.logFile, "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.includes("clawback:"));
}
