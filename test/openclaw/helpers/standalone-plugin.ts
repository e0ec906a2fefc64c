// The plugin outside a gateway: a ClawbackPlugin with a real engine child, a file:// repository,
// a small state folder and a logger that keeps its lines.
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ClawbackPlugin } from "../../../src/openclaw/plugin.ts";
import type { Scratch } from "../../helpers/scratch.ts";

export interface StandalonePlugin {
  plugin: ClawbackPlugin;
  state: string;
  url: string;
  lines: string[];
}

/** A plugin whose state holds workspace/MEMORY.md (`memory`) and whose engine child's cache lives under a HOME of its own. */
export async function standalonePlugin(scratch: Scratch, passphrase: string, memory: string): Promise<StandalonePlugin> {
  const state = await scratch.dir("state");
  const home = await scratch.dir("home");
  await fs.mkdir(path.join(state, "workspace"), { recursive: true });
  await fs.writeFile(path.join(state, "workspace", "MEMORY.md"), memory);
  const url = `file://${path.join(await scratch.dir("repo"), "r")}`;
  const lines: string[] = [];
  const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, ".cache") };
  return { state, url, lines, plugin: new ClawbackPlugin({ repository: url, passphrase, schedule: "off" }, state, logger, env) };
}
