// The real `clawback` command, run as a child process (Node 24 strips the types of
// src/cli/main.ts), against a local-folder repository in a temporary folder. One repository is
// carried through the whole life cycle, in order: init, commit, log, show, ls, diff, checkout,
// forget, prune, check, stats, key; then the error cases and the terminal behaviour.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describeTree, makeRandomTree, randomBytesFrom, prng, tempDir, type TreeItem } from "../helpers/tree.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const PASS = "cli-test Passphrase §1 (do not print)";
const NEW_PASS = "second-Passphrase-from-env-7f3a";
const FILE_PASS = "third-Passphrase-from-file-91bc";
const WRONG_PASS = "not-the-Passphrase-42";
const SECRETS = [PASS, NEW_PASS, FILE_PASS, WRONG_PASS];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every output of every command, to prove no passphrase is ever printed. */
const outputs: string[] = [];

let base: string;
let repoDir: string;
let cacheDir: string;
let src: string;

/** A clean environment: nothing of the caller's CLAWBACK_* settings, the cache under base. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("CLAWBACK_")) env[k] = v;
  env.XDG_CACHE_HOME = path.join(base, "xdg-cache");
  // Every child compiles the same modules: V8's code cache halves the start-up time of the later ones.
  env.NODE_COMPILE_CACHE = path.join(base, "node-compile-cache");
  return env;
}

/**
 * Runs `clawback args…` with the repository and cache of this suite (unless `bare`), stdin
 * closed, stdout and stderr pipes (so neither is a terminal).
 */
function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; bare?: boolean; passphrase?: string | null } = {}): Promise<Run> {
  const env = { ...baseEnv(), ...opts.env };
  if (opts.passphrase !== null) env.CLAWBACK_PASSPHRASE = opts.passphrase ?? PASS;
  const argv = opts.bare ? args : [...args, "--repo", repoDir, "--cache-dir", cacheDir];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...argv], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed quietly: exit 0, nothing on stderr (not a terminal). */
async function ok(args: string[], opts: Parameters<typeof cli>[1] = {}): Promise<string> {
  const r = await cli(args, opts);
  expect(r.stderr, `clawback ${args.join(" ")}`).toBe("");
  expect(r.code, `clawback ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The same with --json, parsed. */
async function okJson<T = any>(args: string[], opts: Parameters<typeof cli>[1] = {}): Promise<T> {
  return JSON.parse(await ok([...args, "--json"], opts)) as T;
}

/** A failure: the exit code, one line on stderr naming the problem, no stack trace, nothing on stdout. */
async function fails(args: string[], code: number, mentions: string[], opts: Parameters<typeof cli>[1] = {}): Promise<Run> {
  const r = await cli(args, opts);
  expect(r.code, `clawback ${args.join(" ")}: ${r.stderr}`).toBe(code);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^clawback: [^\n]+\n$/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  for (const m of mentions) expect(r.stderr).toContain(m);
  return r;
}

const HEX64 = /^[0-9a-f]{64}$/;

function filterTree(tree: Record<string, TreeItem>, keep: (p: string) => boolean): Record<string, TreeItem> {
  return Object.fromEntries(Object.entries(tree).filter(([p]) => keep(p)));
}

beforeAll(async () => {
  base = await tempDir("cli");
  repoDir = path.join(base, "repo");
  cacheDir = path.join(base, "cache");
  src = path.join(base, "src");
  await fs.mkdir(src);
  await makeRandomTree(src, 7, { files: 24, maxSize: 400_000 });
  await fs.writeFile(path.join(src, "a", "notes.txt"), "first version\n");
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

describe("clawback CLI, one repository through its life cycle", () => {
  let first: string; // snapshot ids
  let second: string;
  let treeAtSecond: Record<string, TreeItem>;

  it("init creates a repository; a second init there is refused (exit 4)", async () => {
    const r = await okJson<{ id: string; location: string }>(["init"]);
    expect(r.id).toMatch(HEX64);
    expect(r.location).toBe(`file://${repoDir}`);
    expect(await fs.readdir(repoDir)).toEqual(expect.arrayContaining(["config", "keys"]));
    await fails(["init"], 4, ["already exists", repoDir]);
  });

  it("commit: --json gives the snapshot and its stats; the human form names the snapshot", async () => {
    const r = await okJson<{ snapshot: any; warnings: unknown[] }>(["commit", src, "--reason", "test", "--tag", "one", "--tag", "two"]);
    expect(r.warnings).toEqual([]);
    expect(r.snapshot.id).toMatch(HEX64);
    expect(r.snapshot).toMatchObject({ reason: "test", tags: ["one", "two"], root: src });
    expect(r.snapshot.stats.files).toBeGreaterThan(10);
    expect(r.snapshot.stats.addedBytes).toBeGreaterThan(0);
    expect(r.snapshot.parent).toBeUndefined();
    first = r.snapshot.id;

    await fs.writeFile(path.join(src, "a", "notes.txt"), "second version, longer\n");
    // Big enough that forgetting the second snapshot leaves a pack mostly unused (prune repacks it).
    await fs.writeFile(path.join(src, "added.txt"), randomBytesFrom(prng(3), 600_000));
    const human = await ok(["commit", src]);
    expect(human).toMatch(/^snapshot [0-9a-f]{12} saved: \d+ files, /);
    treeAtSecond = await describeTree(src);
  });

  it("log lists both snapshots, oldest first", async () => {
    const [snaps, human] = await Promise.all([okJson<any[]>(["log"]), ok(["log"])]);
    expect(snaps.map((s) => s.id)).toHaveLength(2);
    expect(snaps[0].id).toBe(first);
    second = snaps[1].id;
    expect(snaps[1]).toMatchObject({ parent: first, reason: "manual", root: src });
    for (const s of snaps) expect(Object.keys(s)).toEqual(expect.arrayContaining(["id", "time", "host", "reason", "tags", "root", "stats"]));
    expect(human.trim().split("\n")).toHaveLength(2);
    expect(human).toContain(first.slice(0, 12));
    expect(human).toContain(second.slice(0, 12));
  });

  it("show: 'latest', 'latest~1', a unique id prefix and the full id name the same snapshots", async () => {
    // Read-only commands, run at once (they share the index cache).
    const [latest, previous, byPrefix, human] = await Promise.all([okJson(["show", "latest"]), okJson(["show", "latest~1"]), okJson(["show", first.slice(0, 8)]), ok(["show", second])]);
    expect(latest.id).toBe(second);
    expect(previous.id).toBe(first);
    expect(byPrefix).toMatchObject({ id: first, reason: "test", tags: ["one", "two"] });
    expect(byPrefix.stats).toEqual(expect.objectContaining({ files: expect.any(Number), bytes: expect.any(Number), addedBytes: expect.any(Number), durationMs: expect.any(Number) }));
    expect(human).toContain(`snapshot ${second}`);
    expect(human).toContain(`parent   ${first}`);
  });

  it("ls lists every path of the snapshot; a path argument narrows it", async () => {
    const [entries, sub, human] = await Promise.all([okJson<any[]>(["ls", "latest"]), okJson<any[]>(["ls", "latest", "a/b"]), ok(["ls", "latest"])]);
    expect(entries.map((e) => e.path).sort()).toEqual(Object.keys(treeAtSecond).sort());
    const notes = entries.find((e) => e.path === "a/notes.txt");
    expect(notes).toMatchObject({ type: "file", size: "second version, longer\n".length });
    const link = entries.find((e) => e.path === "link-to-dir");
    expect(link).toMatchObject({ type: "symlink", target: "a/b" });

    expect(sub.length).toBeGreaterThan(0);
    expect(sub.every((e) => e.path === "a/b" || e.path.startsWith("a/b/"))).toBe(true);

    expect(human).toContain("link-to-dir -> a/b");
    expect(human).toMatch(/^-0\d{3} +\d+ .* a\/notes\.txt$/m);
  });

  it("diff between two snapshots, and between a snapshot and a folder", async () => {
    const [changes, human, same] = await Promise.all([okJson<any[]>(["diff", first, "latest"]), ok(["diff", first, second]), ok(["diff", second, second])]);
    expect(changes.map((c) => [c.kind, c.path]).sort()).toEqual([
      ["added", "added.txt"],
      ["modified", "a/notes.txt"],
    ]);
    const notes = changes.find((c) => c.path === "a/notes.txt");
    expect(notes.before.size).toBe("first version\n".length);
    expect(notes.after.size).toBe("second version, longer\n".length);
    expect(human).toBe("M  a/notes.txt\n+  added.txt\n");
    expect(same).toBe("no changes\n");

    // The folder has moved on since the second snapshot.
    await fs.rm(path.join(src, "added.txt"));
    await fs.writeFile(path.join(src, "a", "third.txt"), "only in the folder\n");
    const vsDir = await okJson<any[]>(["diff", "latest", src]);
    expect(vsDir.map((c) => [c.kind, c.path]).sort()).toEqual([
      ["added", "a/third.txt"],
      ["removed", "added.txt"],
    ]);
  });

  it("checkout into a new folder reproduces the tree; a diff against it shows no change", async () => {
    const out = path.join(base, "restored");
    const r = await okJson(["checkout", "latest", out]);
    expect(r).toMatchObject({ snapshot: second, files: expect.any(Number), bytes: expect.any(Number) });
    expect(r.safetySnapshot).toBeUndefined();
    expect(await describeTree(out)).toEqual(treeAtSecond);
    expect(await okJson(["diff", second, out])).toEqual([]);
    expect(await fs.readdir(base)).not.toContain(expect.stringContaining("staging"));
  });

  it("checkout --path restores one subtree (and one file) only", async () => {
    const out = path.join(base, "partial");
    const r = await okJson(["checkout", second.slice(0, 10), out, "--path", "a/b"]);
    expect(r.snapshot).toBe(second);
    const inAB = (p: string) => p === "a" || p === "a/b" || p.startsWith("a/b/");
    const got = await describeTree(out);
    expect(Object.keys(got).sort()).toEqual(Object.keys(filterTree(treeAtSecond, inAB)).sort());
    expect(filterTree(got, (p) => p.startsWith("a/b/"))).toEqual(filterTree(treeAtSecond, (p) => p.startsWith("a/b/")));

    const one = path.join(base, "one-file");
    expect(await ok(["checkout", first, one, "--path", "a/notes.txt"])).toMatch(/^restored snapshot [0-9a-f]{12}: 1 files, 14 B into /);
    expect(await fs.readFile(path.join(one, "a", "notes.txt"), "utf8")).toBe("first version\n");
  });

  it("checkout over a non-empty folder takes a safety snapshot first", async () => {
    const out = path.join(base, "restored");
    await fs.writeFile(path.join(out, "local-change.txt"), "made after the restore\n");
    const r = await okJson(["checkout", first, out]);
    expect(r.snapshot).toBe(first);
    expect(r.safetySnapshot).toMatch(HEX64);
    expect(await fs.readFile(path.join(out, "a", "notes.txt"), "utf8")).toBe("first version\n");
    const safety = await okJson(["show", r.safetySnapshot]);
    expect(safety).toMatchObject({ reason: "safety", root: out });
    const ls = await okJson<any[]>(["ls", r.safetySnapshot, "local-change.txt"]);
    expect(ls.map((e) => e.path)).toEqual(["local-change.txt"]);
  });

  it("forget by id (prefix), and by policy (--keep-last, --dry-run first); safety snapshots stay", async () => {
    const before = (await okJson<any[]>(["log"])).map((s) => s.id);
    expect(before).toHaveLength(3);
    const safety = before.find((id) => id !== first && id !== second)!;

    const third = (await okJson(["commit", src])).snapshot.id;
    const byId = await okJson(["forget", first.slice(0, 6)]);
    expect(byId.removed).toEqual([first]);
    expect(byId.kept.sort()).toEqual([second, safety, third].sort());

    const dry = await okJson(["forget", "--keep-last", "1", "--dry-run"]);
    expect(dry).toEqual({ removed: [second], kept: expect.arrayContaining([safety, third]) });
    expect((await okJson<any[]>(["log"])).map((s) => s.id)).toContain(second);

    expect(await ok(["forget", "--keep-last", "1"])).toBe("removed 1 snapshots, kept 2\n");
    const after = (await okJson<any[]>(["log"])).map((s) => s.id);
    expect(after.sort()).toEqual([safety, third].sort());
    second = third;
  });

  it("prune deletes what no snapshot needs (dry run first)", async () => {
    // A snapshot whose data nothing else shares, then forgotten (by 'latest'): its pack is dead.
    const scratch = path.join(base, "scratch");
    await fs.mkdir(scratch);
    await fs.writeFile(path.join(scratch, "big.bin"), randomBytesFrom(prng(5), 500_000));
    const doomed = (await okJson(["commit", scratch])).snapshot.id;
    expect((await okJson(["forget", "latest"])).removed).toEqual([doomed]);

    const dry = await okJson(["prune", "--dry-run"]);
    expect(dry).toEqual({ packsDeleted: expect.any(Number), packsRepacked: expect.any(Number), partialWritesDeleted: 0, bytesFreed: expect.any(Number) });
    expect(dry.packsDeleted).toBeGreaterThan(0);
    expect(dry.bytesFreed).toBeGreaterThan(500_000);
    const r = await okJson(["prune"]);
    expect(r).toMatchObject({ packsDeleted: dry.packsDeleted, packsRepacked: dry.packsRepacked });
    expect(r.bytesFreed).toBeGreaterThan(0);
    expect(await ok(["prune"])).toBe("deleted 0 packs, repacked 0, 0 B freed\n");
    // Everything left still restores.
    for (const s of await okJson<{ id: string }[]>(["log"])) await ok(["checkout", s.id, path.join(base, `after-prune-${s.id.slice(0, 8)}`)]);
  });

  it("check --read-data reads every pack and finds nothing wrong", async () => {
    const r = await okJson(["check", "--read-data"]);
    expect(r).toEqual({ ok: true, errors: [], warnings: [], packsRead: expect.any(Number) });
    expect(r.packsRead).toBeGreaterThan(0);
    expect(await ok(["check"])).toMatch(/^no errors found \(0 packs read\)\n$/);
  });

  it("stats: logical and stored size, dedup ratio, request counts", async () => {
    const s = await okJson(["stats"]);
    expect(s).toMatchObject({ snapshots: 2, packs: expect.any(Number), blobs: expect.any(Number), dedupRatio: expect.any(Number) });
    expect(s.logicalBytes).toBeGreaterThan(s.storedBytes); // two near-identical snapshots
    expect(s.dedupRatio).toBeCloseTo(s.logicalBytes / s.storedBytes, 6);
    expect(s.requests).toMatchObject({ get: expect.any(Number), list: expect.any(Number), b2: { classA: expect.any(Number), classB: expect.any(Number), classC: expect.any(Number) } });
    // --requests reports any command's storage requests, with B2's transaction classes.
    const withRequests = await cli(["log", "--requests"]);
    expect(withRequests.code).toBe(0);
    expect(withRequests.stderr).toMatch(/^requests: 0 PUT, \d+ GET, \d+ HEAD, \d+ LIST, 0 DELETE; .* \(B2 class A 0, B \d+, C \d+\)\n$/);
    const human = await ok(["stats"]);
    expect(human).toMatch(/^snapshots +2$/m);
    expect(human).toMatch(/^dedup ratio +\d+\.\d\dx$/m);
  });

  it("key add (from CLAWBACK_NEW_PASSPHRASE and from --new-passphrase-file), list, remove", async () => {
    const passFile = path.join(base, "third.pass");
    await fs.writeFile(passFile, `${FILE_PASS}\n`);
    const [added, viaFile] = await Promise.all([
      okJson(["key", "add"], { env: { CLAWBACK_NEW_PASSPHRASE: NEW_PASS } }),
      okJson(["key", "add", "--new-passphrase-file", passFile]),
    ]);
    expect(added.id).toMatch(HEX64);
    expect(viaFile.id).toMatch(HEX64);

    const keys = await okJson<any[]>(["key", "list"]);
    expect(keys).toHaveLength(3);
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(["created", "current", "host", "id"]);
    expect(keys.filter((k) => k.current)).toHaveLength(1);
    expect(keys.map((k) => k.id)).toEqual(expect.arrayContaining([added.id, viaFile.id]));

    // Each passphrase opens the repository; the file's trailing newline is not part of it.
    const [asNew, asFile] = await Promise.all([
      okJson<any[]>(["key", "list"], { passphrase: NEW_PASS }),
      okJson<any[]>(["key", "list", "--passphrase-file", passFile], { passphrase: null }),
    ]);
    expect(asNew.find((k) => k.current).id).toBe(added.id);
    expect(asFile.find((k) => k.current).id).toBe(viaFile.id);

    // Remove by prefix: the output names the whole id; that passphrase no longer opens.
    expect(await okJson(["key", "remove", added.id.slice(0, 10)])).toEqual({ removed: added.id });
    // The key a session was opened with, and unknown ids, are refused as usage errors.
    const current = keys.find((k) => k.current).id;
    await Promise.all([
      fails(["log"], 3, ["wrong passphrase"], { passphrase: NEW_PASS }),
      ok(["log"]),
      fails(["key", "remove", current], 2, ["refusing"]),
      fails(["key", "remove", "ffffffff"], 2, ["ffffffff"]),
      fails(["key", "rotate"], 2, ["key list"]),
    ]);
  });

  it("a commit with files it cannot store exits 12 and prints only warnings on stderr", async () => {
    const odd = path.join(base, "with-fifo");
    await fs.mkdir(odd);
    await fs.writeFile(path.join(odd, "plain.txt"), "stored\n");
    const mk = spawnSync("mkfifo", [path.join(odd, "a-fifo")]);
    expect(mk.status).toBe(0);
    await fs.symlink("/etc/hostname", path.join(odd, "escaping-link"));
    for (const json of [false, true]) {
      const r = await cli(["commit", odd, ...(json ? ["--json"] : [])]);
      expect(r.code).toBe(12);
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(/^warning: (a-fifo|escaping-link): /);
      expect(r.stderr).not.toMatch(/[\r\x1b]/);
      if (json) {
        const parsed = JSON.parse(r.stdout);
        expect(parsed.warnings.map((w: any) => w.path).sort()).toEqual(["a-fifo", "escaping-link"]);
        expect(parsed.snapshot.stats.files).toBe(1);
      } else {
        expect(r.stdout).toMatch(/saved: 1 files, .*\n2 files not stored \(see warnings above\)\n$/);
      }
    }
  });

  it("errors: wrong passphrase → exit 3, one line; --debug adds the stack trace", async () => {
    const [, debug] = await Promise.all([fails(["log"], 3, ["wrong passphrase"], { passphrase: WRONG_PASS }), cli(["log", "--debug"], { passphrase: WRONG_PASS })]);
    expect(debug.code).toBe(3);
    expect(debug.stderr.split("\n")[0]).toBe("clawback: wrong passphrase: no key file in this repository opens with it");
    expect(debug.stderr).toMatch(/^WrongPassphraseError: /m);
    expect(debug.stderr).toMatch(/^\s+at .*repository\.ts/m);
  });

  it("errors: unknown snapshot → exit 5 naming it; so do a malformed name and latest~N past the oldest", async () => {
    await Promise.all([
      fails(["show", "deadbeef00"], 5, ["deadbeef00", "no such snapshot"]),
      fails(["checkout", "deadbeef00", path.join(base, "never")], 5, ["deadbeef00"]),
      fails(["show", "latest~9"], 5, ["latest~9"]),
      fails(["show", "yesterday"], 5, ["yesterday"]),
    ]);
    await expect(fs.stat(path.join(base, "never"))).rejects.toThrow();
  });

  it("errors: missing source folder → exit 10 naming the path (commit, diff); a file as folder to compare with or checkout target too", async () => {
    const missing = path.join(base, "no such folder");
    const file = path.join(base, "third.pass");
    await Promise.all([
      fails(["commit", missing], 10, [missing, "does not exist"]),
      fails(["diff", "latest", missing], 10, [missing, "no such folder to compare with"]),
      fails(["diff", "latest", file], 10, [file, "no such folder to compare with"]),
      fails(["checkout", "latest", file], 10, [file, "not a folder"]),
    ]);
  });

  it("errors: usage → exit 2 (no repository, unknown option, unknown command, arity)", async () => {
    const [none, help] = await Promise.all([
      cli([], { bare: true }),
      cli(["--help"], { bare: true }),
      fails(["log"], 2, ["--repo", "CLAWBACK_REPOSITORY"], { bare: true }),
      fails(["log", "--repo", repoDir, "--cache-dir", cacheDir, "--bogus"], 2, ["--bogus"], { bare: true }),
      fails(["frobnicate"], 2, ["frobnicate"]),
      fails(["show"], 2, ["show"]),
      fails(["forget", "--keep-last", "two"], 2, ["keep-last"]),
    ]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toContain("usage: clawback");
    expect(help.code).toBe(0);
    for (const c of ["init", "commit", "log", "show", "ls", "diff", "checkout", "forget", "prune", "check", "stats", "key"]) expect(help.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
  });

  it("errors: no repository at the location → exit 4; no passphrase and no terminal → exit 2", async () => {
    const empty = path.join(base, "not-a-repo");
    await fs.mkdir(empty);
    await Promise.all([
      fails(["log", "--repo", empty, "--cache-dir", cacheDir], 4, [empty, "clawback init"], { bare: true }),
      fails(["log"], 2, ["CLAWBACK_PASSPHRASE", "--passphrase-file"], { passphrase: null }),
      fails(["log", "--passphrase-file", path.join(base, "nope.pass")], 2, ["nope.pass"], { passphrase: null }),
    ]);
  });

  it("CLAWBACK_REPOSITORY stands in for --repo", async () => {
    const snaps = JSON.parse(await ok(["log", "--json", "--cache-dir", cacheDir], { bare: true, env: { CLAWBACK_REPOSITORY: `file://${repoDir}` } }));
    expect(snaps.length).toBeGreaterThan(0);
  });

  it("Ctrl-C during a commit cancels it: exit 130, one line, no lock left behind, no snapshot added", async () => {
    const many = path.join(base, "many");
    const rand = prng(9);
    for (let d = 0; d < 20; d++) {
      await fs.mkdir(path.join(many, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 50 }, (_, f) => fs.writeFile(path.join(many, `d${d}`, `f${f}`), randomBytesFrom(rand, 1000))));
    }
    const before = (await okJson<any[]>(["log"])).length;
    const env = { ...baseEnv(), CLAWBACK_PASSPHRASE: PASS };
    const child = spawn(process.execPath, [MAIN, "commit", many, "--repo", repoDir, "--cache-dir", cacheDir], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    // The commit's lock appears once it is under way (and the signal handler is installed).
    const locks = path.join(repoDir, "locks");
    while ((await fs.readdir(locks).catch(() => [])).length === 0) await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGINT");
    const code = await closed;
    outputs.push(stdout, stderr);
    expect(code, stdout + stderr).toBe(130);
    expect(stdout).toBe("");
    expect(stderr).toBe("clawback: operation cancelled\n");
    expect(await fs.readdir(locks)).toEqual([]);
    expect((await okJson<any[]>(["log"])).length).toBe(before);
  });

  it("a corrupted pack: check --read-data exits 7 naming the object", async () => {
    const packs: string[] = [];
    for (const e of await fs.readdir(path.join(repoDir, "data"), { recursive: true, withFileTypes: true })) {
      if (e.isFile()) packs.push(path.relative(repoDir, path.join(e.parentPath, e.name)));
    }
    const victim = packs.sort()[0]!;
    const file = path.join(repoDir, victim);
    const buf = await fs.readFile(file);
    buf[Math.floor(buf.length / 3)]! ^= 0x01;
    await fs.writeFile(file, buf);

    const [human, json] = await Promise.all([cli(["check", "--read-data"]), cli(["check", "--read-data", "--json"])]);
    expect(human.code).toBe(7);
    expect(human.stdout).toContain(`error: integrity check failed for ${victim}`);
    expect(human.stdout).toMatch(/\d+ errors found\n$/);
    expect(json.code).toBe(7);
    const r = JSON.parse(json.stdout);
    expect(r.ok).toBe(false);
    expect(r.errors.some((e: string) => e.includes(victim))).toBe(true);
  });

  it("no passphrase ever appears in any output, nor in the repository or the cache in the clear", async () => {
    expect(outputs.length).toBeGreaterThan(50);
    for (const text of outputs) for (const secret of SECRETS) expect(text).not.toContain(secret);
    for (const dir of [repoDir, cacheDir]) {
      for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
        if (!e.isFile()) continue;
        const bytes = await fs.readFile(path.join(e.parentPath, e.name));
        for (const secret of SECRETS) expect(bytes.includes(Buffer.from(secret))).toBe(false);
      }
    }
  });
});

// A terminal, through util-linux `script` (node-pty is not installed). Skipped where `script` is missing.
const hasScript = spawnSync("script", ["--version"]).status === 0;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs clawback with stdin, stdout and stderr on a pseudo-terminal; `answer` is typed (once the
 * output contains its prompt). Output comes back with the terminal's \r\n line ends.
 */
function onTerminal(args: string[], env: NodeJS.ProcessEnv, answers: { prompt: string; text: string }[] = []): Promise<Run> {
  const command = [process.execPath, MAIN, ...args].map(shellQuote).join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let seen = 0;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      const next = answers[0];
      if (next && stdout.indexOf(next.prompt, seen) >= 0) {
        seen = stdout.indexOf(next.prompt, seen) + next.prompt.length;
        answers.shift();
        child.stdin.write(`${next.text}\r`);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      outputs.push(stdout);
      resolve({ code, stdout, stderr: "" });
    });
  });
}

describe.skipIf(!hasScript)("on a terminal (via script)", () => {
  let repo: string;
  let cache: string;
  let tree: string;

  beforeAll(async () => {
    repo = path.join(base, "tty-repo");
    cache = path.join(base, "tty-cache");
    tree = path.join(base, "tty-src");
    await fs.mkdir(tree);
    await makeRandomTree(tree, 11, { files: 12, maxSize: 300_000 });
  });

  it("init prompts twice for the passphrase without echoing it; log prompts once", async () => {
    const init = await onTerminal(["init", "--repo", repo, "--cache-dir", cache], baseEnv(), [
      { prompt: "passphrase: ", text: PASS },
      { prompt: "again: ", text: PASS },
    ]);
    expect(init.code, init.stdout).toBe(0);
    expect(init.stdout).toMatch(/created repository [0-9a-f]{12}/);
    expect(init.stdout).not.toContain(PASS);

    const [log, wrong] = await Promise.all([
      onTerminal(["log", "--repo", repo, "--cache-dir", cache], baseEnv(), [{ prompt: "passphrase: ", text: PASS }]),
      onTerminal(["log", "--repo", repo, "--cache-dir", cache], baseEnv(), [{ prompt: "passphrase: ", text: WRONG_PASS }]),
    ]);
    expect(log.code, log.stdout).toBe(0);
    expect(log.stdout).toContain("no snapshots");
    expect(log.stdout).not.toContain(PASS);

    expect(wrong.code).toBe(3);
    expect(wrong.stdout).not.toContain(WRONG_PASS);
  });

  it("a progress line is drawn for commit on a terminal, and not with --json", async () => {
    const env = { ...baseEnv(), CLAWBACK_PASSPHRASE: PASS };
    const drawn = await onTerminal(["commit", tree, "--repo", repo, "--cache-dir", cache], env);
    expect(drawn.code, drawn.stdout).toBe(0);
    expect(drawn.stdout).toMatch(/\r\x1b\[K(scan|commit): \d+/);
    expect(drawn.stdout).toMatch(/snapshot [0-9a-f]{12} saved/);

    await fs.writeFile(path.join(tree, "more.txt"), "more\n");
    const quiet = await onTerminal(["commit", tree, "--json", "--repo", repo, "--cache-dir", cache], env);
    expect(quiet.code, quiet.stdout).toBe(0);
    expect(quiet.stdout).not.toContain("\x1b[K");
    expect(JSON.parse(quiet.stdout.replace(/\r\n/g, "\n")).snapshot.stats.files).toBeGreaterThan(0);
  });
});
