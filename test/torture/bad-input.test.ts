// Bad input at the edges (issue 14, "must show" 6): the table "Bad input" in docs/cli.md is the
// one source of truth. Each of its rows names a case; this file knows how to bring each case
// about (CASES below), runs the command (main() of src/cli/main.ts in this process, see
// runCliInProcess) and checks its exit code and that its stderr contains each quoted fragment of
// the row, without a stack trace and without any secret. A row with no case here, or a case with
// no row, fails.

import { beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Repository } from "../../src/engine/repository.ts";
import { encodeSnapshot, decodeSnapshot } from "../../src/repo/snapshot.ts";
import { snapshotKey, SNAPSHOTS_PREFIX } from "../../src/repo/layout.ts";
import { openBackend } from "../../src/storage/open.ts";
import { FAST_SCRYPT } from "../helpers/repo.ts";
import { randomBytesFrom, prng, tempDir } from "../helpers/tree.ts";
import { mountTmpfs } from "../helpers/tmpfs.ts";
import { childEnv, runCliInProcess } from "../helpers/cli-process.ts";
import { repoKeys } from "../helpers/craft-snapshot.ts";

const PASS = "bad-input-Passphrase-0b7d21";
const URL_SECRET = "SeCrEt-in-url-93ae1f";

interface Row {
  id: string;
  exit: number;
  fragments: string[];
}

/** The rows of docs/cli.md's "Bad input" table. */
function tableRows(): Row[] {
  const doc = readFileSync(fileURLToPath(new URL("../../docs/cli.md", import.meta.url)), "utf8");
  const start = doc.indexOf("\n## Bad input\n");
  // Up to the next heading of any level: a table of another section must not be read as rows.
  const next = doc.slice(start + 1).search(/\n#/);
  const section = next < 0 ? doc.slice(start) : doc.slice(start, start + 1 + next);
  return section
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((line) => {
      const cols = line.split(" | ");
      if (cols.length !== 4) throw new Error(`docs/cli.md, Bad input: a row needs 4 columns: ${line}`);
      const quoted = (s: string) => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      return { id: quoted(cols[0]!)[0]!, exit: Number(cols[2]), fragments: quoted(cols[3]!) };
    });
}

interface Shared {
  base: string;
  repo: string;
  cache: string;
  /** A folder with a small and a 3 MB file, committed twice. */
  src: string;
  env: NodeJS.ProcessEnv;
}

interface Prepared {
  args: string[];
  /** What {path} stands for in the row's fragments. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Checks after the command (e.g. that the repository survived), then cleans up. */
  after?: () => Promise<void>;
}

type Prepare = (s: Shared) => Promise<Prepared | "skip">;

const withRepo = (s: Shared, ...args: string[]) => [...args, "--repo", s.repo, "--cache-dir", s.cache];

/** A repository of its own with one snapshot of the shared source, for cases that could destroy it. */
async function ownRepo(s: Shared, at: string, cacheDir = path.join(s.base, `cache-${path.basename(at)}`)): Promise<{ repo: string; cache: string }> {
  const repo = await Repository.init(at, { passphrase: PASS, cacheDir, scrypt: FAST_SCRYPT });
  await repo.commit(s.src);
  await repo.close();
  return { repo: at, cache: cacheDir };
}

/** The repository at `repo` still opens and lists `count` snapshots or more. */
async function stillThere(repo: string, cacheDir: string, count: number): Promise<void> {
  const r = await Repository.open(repo, { passphrase: PASS, cacheDir });
  try {
    expect((await r.log()).length, `the repository at ${repo} survived`).toBeGreaterThanOrEqual(count);
  } finally {
    await r.close();
  }
}

const CASES: Record<string, Prepare> = {
  "no-command": async () => ({ args: [] }),
  "unknown-command": async (s) => ({ args: withRepo(s, "frobnicate") }),
  "unknown-option": async (s) => ({ args: withRepo(s, "log", "--frob") }),
  "mistyped-option": async (s) => ({ args: ["log", "--rep", s.repo] }),
  "option-without-value": async () => ({ args: ["log", "--repo"] }),
  "missing-argument": async (s) => ({ args: withRepo(s, "checkout", "latest") }),
  "extra-argument": async (s) => ({ args: withRepo(s, "log", "extra") }),
  "not-a-number": async (s) => ({ args: withRepo(s, "forget", "--keep-last", "two") }),
  "bad-subset": async (s) => ({ args: withRepo(s, "check", "--read-data-subset", "5/3") }),
  "no-repo": async () => ({ args: ["log"] }),
  "no-passphrase": async (s) => ({ args: withRepo(s, "log"), env: { ...s.env, CLAWBACK_PASSPHRASE: undefined } }),
  "wrong-passphrase": async (s) => ({ args: withRepo(s, "log"), env: { ...s.env, CLAWBACK_PASSPHRASE: "not-the-passphrase" } }),
  "unknown-scheme": async () => ({ args: ["log", "--repo", "ftp://host/path"] }),
  "credentials-in-url": async () => ({ args: ["log", "--repo", `s3://AKIDEXAMPLE:${URL_SECRET}@bucket/prefix`] }),
  "empty-bucket": async () => ({ args: ["log", "--repo", "s3://"] }),
  "no-repository": async (s) => ({ args: ["log", "--repo", await tempDir("empty"), "--cache-dir", s.cache] }),
  "repository-exists": async (s) => ({ args: withRepo(s, "init") }),
  "unknown-snapshot": async (s) => ({ args: withRepo(s, "show", "deadbeef") }),
  "malformed-snapshot": async (s) => ({ args: withRepo(s, "show", "not-a-name") }),
  "ambiguous-prefix": async (s) => ({ args: withRepo(s, "show", await twoSnapshotsSharingAPrefix(s)) }),
  "past-oldest": async (s) => ({ args: withRepo(s, "show", "latest~99") }),
  "source-missing": async (s) => {
    const p = path.join(s.base, "does-not-exist");
    return { args: withRepo(s, "commit", p), path: p };
  },
  "source-is-file": async (s) => {
    const p = path.join(s.src, "small.txt");
    return { args: withRepo(s, "commit", p), path: p };
  },
  "diff-folder-missing": async (s) => ({ args: withRepo(s, "diff", "latest", "missing/") }),
  "target-is-file": async (s) => {
    const p = path.join(s.src, "small.txt");
    return { args: withRepo(s, "checkout", "latest", p), path: p };
  },
  "target-holds-repository": async (s) => {
    const dir = await tempDir("holds-repo");
    const own = await ownRepo(s, path.join(dir, "repo"));
    return { args: ["checkout", "latest", dir, "--repo", own.repo, "--cache-dir", own.cache], path: dir, after: () => stillThere(own.repo, own.cache, 1) };
  },
  "target-holds-cache": async (s) => {
    const dir = await tempDir("holds-cache");
    const own = await ownRepo(s, path.join(await tempDir("repo"), "repo"), path.join(dir, "cache"));
    return {
      args: ["checkout", "latest", dir, "--repo", own.repo, "--cache-dir", own.cache],
      path: dir,
      after: async () => {
        await expect(fs.readdir(own.cache), "the cache survived").resolves.not.toHaveLength(0);
      },
    };
  },
  "target-inside-repository": async (s) => {
    const own = await ownRepo(s, path.join(await tempDir("repo"), "repo"));
    const target = path.join(own.repo, "restored");
    return { args: ["checkout", "latest", target, "--repo", own.repo, "--cache-dir", own.cache], path: target, after: () => stillThere(own.repo, own.cache, 1) };
  },
  "target-name-too-long": async (s) => {
    const p = path.join(s.base, "n".repeat(300));
    return { args: withRepo(s, "checkout", "latest", p), path: p };
  },
  "target-disk-full": async (s) => {
    const mnt = await tempDir("full-target");
    const unmount = mountTmpfs(mnt, "1m");
    if (!unmount) return "skip";
    return { args: withRepo(s, "checkout", "latest", path.join(mnt, "t")), after: async () => unmount() };
  },
  "repository-disk-full": async (s) => {
    const mnt = await tempDir("full-repo");
    const unmount = mountTmpfs(mnt, "1m");
    if (!unmount) return "skip";
    const repo = path.join(mnt, "repo");
    await (await Repository.init(repo, { passphrase: PASS, cacheDir: path.join(s.base, "cache-full"), scrypt: FAST_SCRYPT })).close();
    return { args: ["commit", s.src, "--repo", repo, "--cache-dir", path.join(s.base, "cache-full")], path: repo, after: async () => unmount() };
  },
  "fifo-in-source": async (s) => {
    const dir = await tempDir("fifo");
    await fs.writeFile(path.join(dir, "plain.txt"), "stored");
    expect(spawnSync("mkfifo", [path.join(dir, "a-fifo")]).status).toBe(0);
    return { args: withRepo(s, "commit", dir) };
  },
  "socket-in-source": async (s) => {
    const dir = await tempDir("socket");
    await fs.writeFile(path.join(dir, "plain.txt"), "stored");
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, "a-socket"), resolve));
    return { args: withRepo(s, "commit", dir), after: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  },
};

/**
 * Stores the newest snapshot's record twice more, sealed afresh until two of the copies' ids
 * share their first 4 hex digits (a birthday search: a few hundred seals), and returns that prefix.
 */
async function twoSnapshotsSharingAPrefix(s: Shared): Promise<string> {
  const backend = await openBackend(s.repo);
  try {
    const keys = await repoKeys(backend, PASS);
    let key: string | undefined;
    for await (const obj of backend.list(SNAPSHOTS_PREFIX)) key = obj.key;
    const record = decodeSnapshot(keys, await backend.get(key!), key!);
    const seen = new Map<string, Buffer>();
    for (;;) {
      const copy = encodeSnapshot(keys, { ...record, reason: "ambiguous" });
      const prefix = copy.id.slice(0, 4);
      const other = seen.get(prefix);
      if (other) {
        await backend.put(snapshotKey(copy.id), copy.bytes);
        await backend.put(snapshotKey(createHash("sha256").update(other).digest("hex")), other);
        return prefix;
      }
      seen.set(prefix, copy.bytes);
    }
  } finally {
    await backend.close();
  }
}

const ROWS = tableRows();

describe("bad input at the edges (docs/cli.md, 'Bad input')", () => {
  let shared: Shared;

  beforeAll(async () => {
    const base = await tempDir("bad-input");
    const src = path.join(base, "src");
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, "small.txt"), "small\n");
    await fs.writeFile(path.join(src, "big.bin"), randomBytesFrom(prng(7), 3_000_000));
    const repo = path.join(base, "repo");
    const cache = path.join(base, "cache");
    const r = await Repository.init(repo, { passphrase: PASS, cacheDir: cache, scrypt: FAST_SCRYPT });
    await r.commit(src);
    await fs.writeFile(path.join(src, "small.txt"), "changed\n");
    await r.commit(src);
    await r.close();
    shared = { base, repo, cache, src, env: childEnv(base, { CLAWBACK_PASSPHRASE: PASS }) };
  });

  it("every row of the table has a case here, and every case a row", () => {
    expect(ROWS.length).toBeGreaterThan(20);
    expect(ROWS.map((r) => r.id).sort()).toEqual(Object.keys(CASES).sort());
    for (const r of ROWS) expect(Number.isInteger(r.exit) && r.fragments.length > 0, `row ${r.id}`).toBe(true);
  });

  for (const row of ROWS) {
    it(`${row.id}: exit ${row.exit}, "${row.fragments.join(" … ")}"`, async (ctx) => {
      const prepare = CASES[row.id];
      if (!prepare) return expect.fail(`docs/cli.md names case ${row.id}, which the test does not know`);
      const prepared = await prepare(shared);
      if (prepared === "skip") return ctx.skip();
      try {
        const run = await runCliInProcess(prepared.args, prepared.env ?? shared.env);
        const told = `clawback ${prepared.args.join(" ")}\nexit ${run.code}\nstderr: ${run.stderr}`;
        expect(run.code, told).toBe(row.exit);
        for (const f of row.fragments) expect(run.stderr, told).toContain(f.replaceAll("{path}", prepared.path ?? "{path}"));
        expect(run.stderr, "no stack trace without --debug").not.toMatch(/\n\s+at /);
        for (const secret of [PASS, URL_SECRET]) expect(run.stdout + run.stderr, "no secret in the output").not.toContain(secret);
      } finally {
        await prepared.after?.();
      }
    });
  }
});
