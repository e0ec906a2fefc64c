// The published package in a real gateway, installed the way a user's `openclaw plugins install`
// does it: `npm pack` of the project, then `openclaw plugins install npm-pack:<tarball>` into a
// fresh state. OpenClaw unpacks it into <state>/npm/projects/clawback/ and installs its runtime
// dependencies with npm, install scripts off, so better-sqlite3 must load its shipped prebuilt
// binary and the wasm kernels must be found beside dist/. A file:// repository and a fast schedule
// then show that the gateway backs up from that installed copy: every engine child seen runs
// child.js from the installed folder (never from OpenClaw's load copy under tmp/plugin-captures/),
// a `schedule` snapshot lands, another after an in-process restart (SIGUSR2), and the log names
// no error.
//
// npm and the registry: OpenClaw runs `npm install --omit=dev --omit=peer --legacy-peer-deps
// --ignore-scripts` with npm_config_cache removed from the environment and a freshness bypass
// (min-release-age=0) that makes npm ask for full package documents, which a plain `npm install`
// does not cache; so the machine's own npm cache does not serve an offline install (ENOTCACHED,
// docs/openclaw.md). This scenario gives npm a cache of its own (os.tmpdir()/clawback-npm-cache,
// through NPM_CONFIG_USERCONFIG, which OpenClaw leaves alone) with prefer-offline: the first run
// on a machine fills it from the registry, later runs install offline.
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, mockModelConfig, type Gateway } from "./helpers/gateway.ts";
import { startMockModel, type MockModel } from "./helpers/mock-model.ts";
import { clawbackLines, packPlugin, type PackedPlugin } from "./helpers/plugin.ts";
import { waitForSnapshots } from "./helpers/repo.ts";

const PASSPHRASE = "install-tarball-test-passphrase";
const NPM_CACHE = path.join(os.tmpdir(), "clawback-npm-cache");
const CHILD_SCRIPT = path.join("dist", "openclaw", "engine", "child.js");

/** Command lines of running processes that mention `needle`, from /proc (Linux). */
async function processesMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await fs.readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(needle)) found.push(cmd.split("\0").filter(Boolean).join(" "));
  }
  return found;
}

/** Records, until stopped, every engine child that runs under `root`: they live for seconds. */
function watchEngineChildren(root: string): { seen: Set<string>; stop: () => void } {
  const seen = new Set<string>();
  let on = true;
  void (async () => {
    while (on) {
      for (const cmd of await processesMentioning(CHILD_SCRIPT)) if (cmd.includes(root)) seen.add(cmd);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { seen, stop: () => (on = false) };
}

/** The gateway log's entries at error level or worse, as text. */
async function errorEntries(gw: Gateway): Promise<string[]> {
  const text = await fs.readFile(gw.logFile, "utf8").catch(() => "");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { _meta?: { logLevelName?: string } };
      if (/ERROR|FATAL/.test(entry._meta?.logLevelName ?? "")) out.push(line);
    } catch {
      // a line cut by a write in progress
    }
  }
  return out;
}

describe("the npm pack tarball installed with `openclaw plugins install npm-pack:`", () => {
  let model: MockModel;
  let gw: Gateway;
  let packed: PackedPlugin;
  let installDir: string;
  let url: string;

  beforeAll(async () => {
    model = await startMockModel();
    gw = await createGateway("install");
    url = `file://${path.join(gw.root, "repo")}`;
    await fs.mkdir(NPM_CACHE, { recursive: true });
    const npmrc = path.join(gw.root, "npmrc");
    await fs.writeFile(npmrc, `cache=${NPM_CACHE}\nprefer-offline=true\n`);
    // Seen by every openclaw command of this gateway (and so by the npm it runs). The npm settings
    // that `npx vitest` hands down (npm_config_userconfig=~/.npmrc among them) go: npm reads them
    // before NPM_CONFIG_USERCONFIG, and the install then filled the gateway's private ~/.npm.
    for (const key of Object.keys(gw.env)) if (key.toLowerCase().startsWith("npm_config_")) delete gw.env[key];
    gw.env.npm_config_userconfig = npmrc;
    packed = await packPlugin(gw.root, gw.env);
    installDir = path.join(gw.stateDir, "npm", "projects", "clawback", "node_modules", "clawback");
  }, 300_000);

  afterAll(async () => {
    await gw?.remove();
    await model?.stop();
  });

  it("the tarball holds the built plugin, its manifest and the wasm kernels, and no sources, tests or scratch files", () => {
    for (const f of ["package.json", "openclaw.plugin.json", "dist/openclaw/index.js", CHILD_SCRIPT, "dist/lib.js", "bin/clawback.js", "wasm/build/fastcdc.wasm", "wasm/build/grouphash.wasm"]) {
      expect(packed.files, f).toContain(f);
    }
    const stray = packed.files.filter((f) => /^(src|test|tmp|bench|node_modules|docs)\//.test(f) || /\.test\.[jt]s$/.test(f) || (f.startsWith("wasm/") && !f.startsWith("wasm/build/")));
    expect(stray).toEqual([]);
  });

  it("installs, loads in the gateway, and backs up from the installed folder", async () => {
    const install = await gw.cli(["plugins", "install", `npm-pack:${packed.tarball}`, "--force", "--accept-capabilities"], { timeoutMs: 600_000 });
    expect(install.code, install.stderr + install.stdout).toBe(0);
    // npm worked from (and filled) the cache named above, so the next run can install offline.
    expect(await fs.readdir(path.join(NPM_CACHE, "_cacache"))).toContain("index-v5");
    expect(install.stdout + install.stderr).toContain("Installed plugin: clawback");
    // The dependencies came without install scripts: better-sqlite3 has no build of its own, only
    // the prebuilt binaries it ships.
    const installed = JSON.parse(await fs.readFile(path.join(installDir, "package.json"), "utf8")) as { name: string };
    expect(installed.name).toBe("clawback");
    const sqliteDir = path.join(gw.stateDir, "npm", "projects", "clawback", "node_modules", "better-sqlite3");
    await expect(fs.stat(path.join(sqliteDir, "build"))).rejects.toThrow();
    await fs.stat(path.join(sqliteDir, "prebuilds", `${process.platform}-${process.arch}.node`));

    await gw.configure([...mockModelConfig(model.baseUrl), { path: "plugins.entries.clawback.config", value: { repository: url, passphrase: PASSPHRASE, schedule: "*/15 * * * * *" } }]);
    await fs.mkdir(path.join(gw.stateDir, "workspace"), { recursive: true });
    await fs.writeFile(path.join(gw.stateDir, "workspace", "MEMORY.md"), "# memory\ninstalled from the tarball\n");

    const children = watchEngineChildren(gw.root);
    try {
      await gw.start();
      await gw.waitForLog(/clawback: created a new repository at file:/, 180_000);
      const snaps = await waitForSnapshots(url, PASSPHRASE, (s) => s.some((x) => x.reason === "schedule"), 180_000);
      expect(snaps.some((s) => s.reason === "schedule")).toBe(true);
      await gw.waitForLog(/clawback: snapshot [0-9a-f]{12} \(schedule\)/, 60_000);
      // An in-process restart (SIGUSR2) reloads the plugin and removes OpenClaw's load copies
      // under tmp/plugin-captures/: the backups after it still run from the installed folder.
      const before = snaps.length;
      const readyBefore = ((await gw.log()).match(/gateway ready/g) ?? []).length;
      process.kill(gw.pid!, "SIGUSR2");
      for (let i = 0; i < 600 && ((await gw.log()).match(/gateway ready/g) ?? []).length <= readyBefore; i++) await new Promise((r) => setTimeout(r, 500));
      expect(((await gw.log()).match(/gateway ready/g) ?? []).length).toBeGreaterThan(readyBefore);
      await gw.waitReady(300_000);
      const after = await waitForSnapshots(url, PASSPHRASE, (s) => s.filter((x) => x.reason === "schedule").length > before, 180_000);
      expect(after.length).toBeGreaterThan(before);
    } finally {
      children.stop();
    }

    // Every engine child ran from the installed folder (never from a load copy a restart deletes).
    expect(children.seen.size).toBeGreaterThan(0);
    for (const cmd of children.seen) expect(cmd).toContain(path.join(installDir, CHILD_SCRIPT));

    const lines = await clawbackLines(gw);
    expect(lines.filter((l) => /failed|cannot|error/i.test(l))).toEqual([]);
    const errors = await errorEntries(gw);
    expect(errors.filter((l) => /clawback/i.test(l))).toEqual([]);
    expect(gw.running()).toBe(true);
  }, 900_000);
});
