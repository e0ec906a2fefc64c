// The `clawback` command (a child process, as in cli.test.ts) after crashes and at the edges of
// its storage: a full repository disk, locks of dead processes, a missing key file, an S3 init
// with a wrong secret or a missing bucket, and --requests when a command fails.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { prng, randomBytesFrom, tempDir } from "../helpers/tree.ts";
import { mountTmpfs } from "../helpers/tmpfs.ts";
import { killHard, startCrashChild } from "../helpers/killed-child.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { openBackend } from "../../src/storage/open.ts";
import { childEnv, runCli } from "../helpers/cli-process.ts";

const PASS = "cli-ops passphrase";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let base: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runCli(args, { env: { ...childEnv(base, { CLAWBACK_PASSPHRASE: PASS }), ...env } });
}

async function initRepo(repo: string): Promise<void> {
  const r = await cli(["init", "--repo", repo]);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  base = await tempDir("cli-ops");
});

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

describe("clawback after crashes and at the edges of its storage", () => {
  it("a full repository disk: one error naming the repository, exit 8, no per-file warnings; prune on the full disk frees space", async (ctx) => {
    const disk = path.join(base, "small-disk");
    await fs.mkdir(disk);
    const unmount = mountTmpfs(disk, "24m");
    if (!unmount) return ctx.skip();
    try {
      const repo = path.join(disk, "repo");
      await initRepo(repo);
      const folder = async (name: string, files: number, seed: number) => {
        const dir = path.join(base, name);
        await fs.mkdir(dir);
        for (let i = 0; i < files; i++) await fs.writeFile(path.join(dir, `f${i}.bin`), randomBytesFrom(prng(seed + i), 1024 * 1024));
        return dir;
      };
      const first = await cli(["commit", await folder("first", 12, 100), "--repo", repo, "--json"]);
      expect(first.code, first.stderr).toBe(0);
      const failed = await cli(["commit", await folder("too-much", 20, 200), "--repo", repo]);
      expect(failed.code, failed.stderr).toBe(8);
      expect(failed.stdout).toBe("");
      expect(failed.stderr).toMatch(new RegExp(`^clawback: the repository at file://${repo} is full: no space left to write data/[0-9a-f/]+ \\(.*\\)\\n$`));
      // A failed write leaves no partial file behind.
      expect((await fs.readdir(path.join(repo, "data"), { recursive: true })).filter((n) => n.includes(".tmp-"))).toEqual([]);

      // The disk full to the last 128 KiB, then the first snapshot forgotten: prune must delete before it writes.
      const st = await fs.statfs(disk);
      await fs.writeFile(path.join(disk, "filler"), Buffer.alloc(Math.max(0, st.bavail * st.bsize - 128 * 1024)));
      const forgot = await cli(["forget", JSON.parse(first.stdout).snapshot.id, "--repo", repo]);
      expect(forgot.code, forgot.stderr).toBe(0);
      const pruned = await cli(["prune", "--repo", repo, "--json"]);
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(JSON.parse(pruned.stdout).packsDeleted).toBeGreaterThanOrEqual(1);
      const after = await fs.statfs(disk);
      expect(after.bavail * after.bsize).toBeGreaterThan(10 * 1024 * 1024);

      const again = await cli(["commit", await folder("smaller", 6, 300), "--repo", repo]);
      expect(again.code, again.stderr).toBe(0);
      const check = await cli(["check", "--read-data", "--repo", repo]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
    } finally {
      unmount();
    }
  });

  it("unlock removes the lock of a SIGKILLed process (prune runs at once); --remove-all removes a live one, with a warning", async () => {
    const repo = path.join(base, "locked");
    await initRepo(repo);
    const { child } = await startCrashChild("lock", [repo, PASS, "shared"]);
    const blocked = await cli(["prune", "--repo", repo]);
    expect(blocked.code).toBe(9);
    expect(blocked.stderr).toContain("clawback unlock");
    // A live holder: unlock keeps its lock.
    const kept = await cli(["unlock", "--repo", repo]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(new RegExp(`^kept locks/[0-9a-f]+: commit, pid ${child.pid} on .*: its process may still be running`, "m"));
    await killHard(child);
    const removed = await cli(["unlock", "--repo", repo, "--json"]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ removed: [{ pid: child.pid, stale: expect.stringMatching(/is gone/) }], kept: [] });
    expect(await fs.readdir(path.join(repo, "locks"))).toEqual([]);

    const live = await startCrashChild("lock", [repo, PASS, "exclusive"]);
    try {
      const all = await cli(["unlock", "--remove-all", "--repo", repo]);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stderr).toMatch(/^warning: removing every lock/);
      expect(all.stdout).toMatch(/^1 locks removed, 0 kept$/m);
      expect(await fs.readdir(path.join(repo, "locks"))).toEqual([]);
    } finally {
      await killHard(live.child);
    }
  });

  it("a repository whose key files are gone: a named error naming keys/, exit 6", async () => {
    const repo = path.join(base, "keyless");
    await initRepo(repo);
    for (const name of await fs.readdir(path.join(repo, "keys"))) await fs.rm(path.join(repo, "keys", name));
    const r = await cli(["log", "--repo", repo]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^clawback: no key files in file:\/\/\S+: keys\/ is empty/);
  });

  it("--requests counts init's requests, and those of an open that fails", async () => {
    const repo = path.join(base, "counted");
    const init = await cli(["init", "--repo", repo, "--requests"]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/^requests: [1-9]\d* PUT, [1-9]\d* GET, \d+ HEAD, [1-9]\d* LIST, 0 DELETE/);
    const wrong = await cli(["log", "--repo", repo, "--requests"], { CLAWBACK_PASSPHRASE: "not it" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^requests: 0 PUT, [1-9]\d* GET, .*\nclawback: wrong passphrase/);
  });

  describe("init against S3", () => {
    let s3: S3Server;
    beforeAll(async () => {
      s3 = await startS3Server();
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it("with a wrong secret: refused before anything is written, with a hint at the key and secret", async () => {
      const r = await cli(["init", "--repo", s3.url("wrong-secret")], { ...s3.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" });
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/^clawback: S3 \w+ .*failed: 403.*\(check the access key/);
    });

    it("a 403 whose answer carries no reason (a HEAD) still says what to check", async () => {
      const backend = await openBackend(s3.url("head"), { env: { ...s3.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" } });
      try {
        await expect(backend.head("config")).rejects.toThrow(/^S3 HEAD of "config" .* failed: 403 \(check the access key ID and secret, the key's permissions on this bucket, and this machine's clock\)$/);
      } finally {
        await backend.close();
      }
    });

    it("against a bucket that does not exist: refused at once, naming the bucket", async () => {
      const r = await cli(["init", "--repo", "s3://no-such-bucket/repo"], s3.env);
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/^clawback: S3 LIST of "config" in bucket "no-such-bucket" .*NoSuchBucket.*\(the bucket does not exist\)\n$/);
    });
  });
});

