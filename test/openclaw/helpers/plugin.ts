// Puts the plugin into a test gateway the way a user of a checkout would: the project is built
// (tsc -p tsconfig.build.json, only when a source is newer than dist/) and linked with
// `openclaw plugins install -l <project> --force --accept-capabilities`.
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

let built: Promise<void> | undefined;

/** Builds dist/ when a source file is newer than the built plugin entry. */
export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    const entry = path.join(PROJECT_ROOT, "dist", "openclaw", "index.js");
    const builtAt = await fs.stat(entry).then((s) => s.mtimeMs, () => 0);
    if (builtAt > (await newestMtime(path.join(PROJECT_ROOT, "src")))) return;
    await run(process.execPath, [path.join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], { cwd: PROJECT_ROOT });
  })();
  return built;
}

/** Links the working tree's plugin into the gateway's state and writes its config. */
export async function installPlugin(gw: Gateway, config: Record<string, unknown>): Promise<void> {
  await ensureBuilt();
  const r = await gw.cli(["plugins", "install", "-l", PROJECT_ROOT, "--force", "--accept-capabilities"]);
  if (r.code !== 0) throw new Error(`plugins install failed (${r.code}): ${r.stderr || r.stdout}`);
  await gw.configure([{ path: "plugins.entries.clawback.config", value: config }]);
}

/** A fresh folder for a file:// repository, removed with the gateway's folder. */
export async function fileRepo(gw: Gateway, name = "repo"): Promise<{ dir: string; url: string }> {
  const dir = path.join(gw.root, name);
  return { dir, url: `file://${dir}` };
}

/** Log lines (OpenClaw writes JSON lines) whose text mentions clawback, as plain strings. */
export async function clawbackLines(gw: Gateway): Promise<string[]> {
  const text = await gw.log();
  return text.split("\n").filter((l) => l.includes("clawback:"));
}
