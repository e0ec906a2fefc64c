// The checkout's bad inputs at the command line (docs/cli.md, "Exit codes"): each refused with one
// line naming the problem and its documented exit code, nothing written. And `recover`.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../src/engine/repository.ts";
import { describeTree, tempDir } from "../helpers/tree.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../helpers/repo.ts";
import { childEnv, runCli } from "../helpers/cli-process.ts";


let base: string;
let url: string;
let cacheDir: string;
let id: string;

function cli(args: string[], withRepo = true): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = withRepo ? [...args, "--repo", url, "--cache-dir", cacheDir] : args;
  return runCli(argv, { env: childEnv(base, { CLAWBACK_PASSPHRASE: PASSPHRASE }) });
}

beforeAll(async () => {
  base = await tempDir("cli-checkout");
  // The layout: the repository and the data side by side in one folder D.
  url = path.join(base, "repo");
  cacheDir = path.join(base, "cache");
  const repo = await Repository.init(url, { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT });
  await fs.mkdir(path.join(base, "data"));
  await fs.writeFile(path.join(base, "data", "f.txt"), "data");
  id = (await repo.commit(path.join(base, "data"))).snapshot.id;
  await repo.close();
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

describe("checkout refusals at the command line", () => {
  it.each([
    ["the folder holding the repository", 10, () => base, ["holds the repository"]],
    ["a folder inside the repository", 10, () => path.join(url, "restore"), ["inside the repository"]],
    ["the folder holding the index cache", 10, () => cacheDir, ["index cache"]],
    ["a name over NAME_MAX", 10, () => path.join(base, "x".repeat(300)), ["x".repeat(300), "255"]],
  ] as [string, number, () => string, string[]][])("%s: exit %s, one line naming it, nothing written", async (_label, code, target, mentions) => {
    const before = await describeTree(base);
    const r = await cli(["checkout", "latest", target()]);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^clawback: [^\n]+\n$/);
    for (const m of mentions) expect(r.stderr).toContain(m);
    // Nothing changed: no safety snapshot, no staging folder (the index cache and the compile cache aside).
    const after = await describeTree(base);
    const ours = (t: Record<string, unknown>) => Object.fromEntries(Object.entries(t).filter(([p]) => !p.startsWith("node-compile-cache") && !p.startsWith("cache")));
    expect(ours(after)).toEqual(ours(before));
    expect((await cli(["log", "--json"])).stdout).toContain(id);
  });

  it("an upper-case snapshot id prefix restores", async () => {
    const out = path.join(base, "restored-upper");
    const r = await cli(["checkout", id.slice(0, 12).toUpperCase(), out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(path.join(out, "f.txt"), "utf8")).toBe("data");
  });

  it("recover needs no repository; a folder with nothing to recover says so", async () => {
    const r = await cli(["recover", path.join(base, "data")], false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("no interrupted checkout");
    const usage = await cli(["recover"], false);
    expect(usage.code).toBe(2);
    const help = await cli(["--help"], false);
    expect(help.stdout).toMatch(/^ {2}recover <dir>/m);
  });
});
