// Exclude patterns through the real `clawback commit --exclude`: gitignore semantics (negation,
// character classes, escapes, comments), as docs/cli.md describes them. The snapshot's listing
// (`clawback ls --json`) shows what was stored.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/tree.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const PASS = "excludes-test passphrase";

let base: string;
let src: string;

/** Runs `clawback args…` against this suite's repository and cache; it must succeed quietly. */
async function ok(args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CLAWBACK_")) env[k] = v;
  env.CLAWBACK_PASSPHRASE = PASS;
  env.XDG_CACHE_HOME = path.join(base, "xdg-cache");
  const argv = [MAIN, ...args, "--repo", path.join(base, "repo"), "--cache-dir", path.join(base, "cache")];
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stdout: out, stderr: err }));
  });
  expect(stderr, `clawback ${args.join(" ")}`).toBe("");
  expect(code, `clawback ${args.join(" ")}`).toBe(0);
  return stdout;
}

/** Commits the source with these excludes and returns the paths the snapshot lists, sorted. */
async function storedPaths(excludes: string[]): Promise<string[]> {
  await ok(["commit", src, ...excludes.flatMap((e) => ["--exclude", e])]);
  const entries = JSON.parse(await ok(["ls", "latest", "--json"])) as { path: string }[];
  return entries.map((e) => e.path).sort();
}

const FILES = [
  "cache/a.bin",
  "cache/sub/b.bin",
  "cache/keep/k.txt",
  "tmp/keep/t.txt",
  "tmp/x.txt",
  "log1.txt",
  "log7.txt",
  "logA.txt",
  "x.o",
  "lib.a",
  "x.c",
  "#draft#",
  "#notes.md",
  "!important.txt",
  "important.txt",
  "work/#draft#",
];

beforeAll(async () => {
  base = await tempDir("cli-excludes");
  src = path.join(base, "src");
  for (const f of FILES) {
    await fs.mkdir(path.dirname(path.join(src, f)), { recursive: true });
    await fs.writeFile(path.join(src, f), `content of ${f}\n`);
  }
  await ok(["init"]);
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

describe("clawback commit --exclude: gitignore patterns", () => {
  it("without excludes every file is stored (the tree above is what the patterns act on)", async () => {
    const paths = await storedPaths([]);
    expect(paths).toEqual(expect.arrayContaining(FILES));
  });

  it("negation: 'cache/*' then '!cache/keep/' keeps cache/keep; 'tmp/' then '!tmp/keep/' cannot (the parent folder is excluded)", async () => {
    const paths = await storedPaths(["cache/*", "!cache/keep/", "tmp/", "!tmp/keep/"]);
    expect(paths.filter((p) => p === "cache" || p.startsWith("cache/"))).toEqual(["cache", "cache/keep", "cache/keep/k.txt"]);
    expect(paths.filter((p) => p === "tmp" || p.startsWith("tmp/"))).toEqual([]);
  });

  it("character classes: 'log[0-9].txt' and '*.[oa]'", async () => {
    const paths = await storedPaths(["log[0-9].txt", "*.[oa]"]);
    expect(paths).not.toContain("log1.txt");
    expect(paths).not.toContain("log7.txt");
    expect(paths).not.toContain("x.o");
    expect(paths).not.toContain("lib.a");
    expect(paths).toEqual(expect.arrayContaining(["logA.txt", "x.c"]));
  });

  it("escapes: '\\#draft#' excludes '#draft#' at any depth, '#notes.md' is a comment, '\\!important.txt' is a name", async () => {
    const paths = await storedPaths(["\\#draft#", "#notes.md", "\\!important.txt"]);
    expect(paths).not.toContain("#draft#");
    expect(paths).not.toContain("work/#draft#");
    expect(paths).not.toContain("!important.txt");
    expect(paths).toEqual(expect.arrayContaining(["#notes.md", "important.txt", "work"]));
  });
});
