import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { AbortedError, ScratchFullError } from "../../../src/errors.ts";
import { readPackHeader } from "../../../src/repo/pack.ts";
import { BlobWriter } from "../../../src/engine/commit/blob-writer.ts";
import { GATHER_BUFFER, PackFile, PackFolder } from "../../../src/engine/commit/pack-file.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import { IndexCache } from "../../../src/index/cache.ts";
import { deriveKeys, type RepoKeys } from "../../../src/crypto/keys.ts";
import type { Backend } from "../../../src/storage/backend.ts";
import { BlobType } from "../../../src/repo/blob.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { newRepo, objectKeys, type TestRepo } from "../../helpers/repo.ts";
import { localTarget, s3Target, type RepoTarget } from "../../helpers/targets.ts";
import { prng, randomBytesFrom, tempDir } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { mountTmpfs } from "../../helpers/tmpfs.ts";

/** Everything under the index cache folder that is a pack folder or a file in one. */
function packLeftovers(cacheDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.name.startsWith("clawback-packs-")) out.push(full, ...fs.readdirSync(full).map((f) => path.join(full, f)));
      else if (entry.isDirectory()) walk(full);
    }
  };
  walk(cacheDir);
  return out;
}

/** This process's open descriptors that point into a pack folder (a file removed but still open keeps its space). */
function openPackFiles(): string[] {
  const targets: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      targets.push(fs.readlinkSync(`/proc/self/fd/${fd}`, "utf8"));
    } catch {
      // Closed since the listing (the listing's own descriptor, for one).
    }
  }
  return targets.filter((target) => target.includes("clawback-packs-"));
}

/** After a commit that failed: no pack file or folder left, none open, no snapshot listed. */
async function expectFailedCommitLeftNothing(t: TestRepo): Promise<void> {
  expect(packLeftovers(t.cacheDir)).toEqual([]);
  expect(openPackFiles()).toEqual([]);
  expect(await objectKeys(t.raw, "snapshots/")).toEqual([]);
}

/** A source folder of `files` incompressible files of 256 KiB. */
async function source(files: number, seed: number): Promise<string> {
  const dir = path.join(await tempDir("src"), "data");
  fs.mkdirSync(dir, { recursive: true });
  const rand = prng(seed);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(dir, `f${i}`), randomBytesFrom(rand, 256 * 1024));
  return dir;
}

describe.each([{ target: localTarget() }, { target: s3Target() }])("packs filled in files ($target.name)", ({ target }: { target: RepoTarget }) => {
  beforeAll(() => target.start(), 60_000);
  afterAll(() => target.stop());

  it("a commit stores each pack byte for byte as filled on disk, check --read-data accepts them, and no pack file is left", async () => {
    const t = await newRepo({ target, packSize: 256 * 1024 });
    try {
      const src = await source(12, 3);
      await t.repo.commit(src);
      expect(packLeftovers(t.cacheDir)).toEqual([]);
      expect(openPackFiles()).toEqual([]);
      const check = await t.repo.check({ readData: true });
      expect(check.errors).toEqual([]);
      expect(check.packsRead).toBeGreaterThan(8);
      // Each stored pack hashes to its name, its header opens (as the fallback without a manifest
      // reads it), and it is one the commit's manifest lists.
      const { keys, cache } = contextOf(t);
      const listed = new Set(cache.packs().map((p) => p.id));
      const packKeys = await objectKeys(t.raw, "data/");
      expect(packKeys.length).toBe(check.packsRead);
      for (const key of packKeys) {
        const bytes = await t.raw.get(key);
        const id = path.basename(key);
        expect(createHash("sha256").update(bytes).digest("hex")).toBe(id);
        expect(readPackHeader(keys, id, bytes, key).length).toBeGreaterThan(0);
        expect(listed.has(id)).toBe(true);
      }
    } finally {
      await t.cleanup();
    }
  }, 120_000);
});

/** The open repository's keys and index cache (tests only). */
function contextOf(t: TestRepo): { keys: RepoKeys; cache: IndexCache; backend: Backend } {
  return (t.repo as unknown as { ctx: { keys: RepoKeys; cache: IndexCache; backend: Backend } }).ctx;
}

describe("pack files are removed on every way out", () => {
  const scratch = useScratch();

  it("after an upload that fails: the commit fails with the backend's error and lists no snapshot", async () => {
    // The lock, the first pack, then the second pack's upload (through the backend's putFile) fails.
    const t = await newRepo({ packSize: 256 * 1024, wrapBackend: (b) => faultyBackend(b, { failPutFrom: 3 }) });
    try {
      const src = await source(12, 4);
      await expect(t.repo.commit(src)).rejects.toThrow(/injected failure writing data\//);
      await expectFailedCommitLeftNothing(t);
    } finally {
      await t.cleanup();
    }
  }, 60_000);

  it("after an exception while a pack is filling (a cancelled commit)", async () => {
    const t = await newRepo({});
    try {
      const src = await source(8, 6);
      const controller = new AbortController();
      let filesSeen: string[] = [];
      const failure = await t.repo
        .commit(src, {
          signal: controller.signal,
          progress: {
            progress(event) {
              if (event.files < 3 || controller.signal.aborted) return;
              // Three files (768 KiB) into a 16 MiB pack: a pack file is open and filling.
              filesSeen = packLeftovers(t.cacheDir);
              controller.abort();
            },
          },
        })
        .catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(AbortedError);
      expect(filesSeen.length).toBeGreaterThanOrEqual(2); // the folder and the filling pack's file
      await expectFailedCommitLeftNothing(t);
    } finally {
      await t.cleanup();
    }
  }, 60_000);

  it("a cache folder with no room for a pack file fails the commit with ScratchFullError naming it, leaving nothing", async (ctx) => {
    const cacheDir = await scratch.dir("small-cache");
    const unmount = mountTmpfs(cacheDir, "3m");
    if (!unmount) return ctx.skip();
    try {
      const t = await newRepo({ cacheDir });
      try {
        const src = await source(16, 8); // 4 MiB of incompressible bytes: one pack past the 3 MiB
        const failure = await t.repo.commit(src).catch((err: unknown) => err);
        expect(failure).toBeInstanceOf(ScratchFullError);
        expect((failure as ScratchFullError).path).toMatch(/clawback-packs-/);
        expect(String(failure)).toMatch(/--cache-dir/);
        expect(packLeftovers(cacheDir)).toEqual([]);
        expect(openPackFiles()).toEqual([]);
        expect(await objectKeys(t.raw, "snapshots/")).toEqual([]);
      } finally {
        await t.cleanup().catch(() => {});
      }
    } finally {
      unmount();
    }
  }, 60_000);

  it("a pack folder whose process is gone is removed by the next writer's folder; a live one's is kept", async () => {
    const parent = await scratch.dir("leftovers");
    const dead = path.join(parent, "clawback-packs-999999999-1-abcdef");
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, "pack-0"), "sealed bytes");
    const live = await PackFolder.make(parent);
    const again = await PackFolder.make(parent);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live.path)).toBe(true);
    await again.remove();
    await live.remove();
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it("a finished pack file's id is its SHA-256, and its MD5 (for S3's Content-MD5) that of its bytes", async () => {
    const dir = await scratch.dir("digests");
    const keys = deriveKeys(Buffer.alloc(32, 3));
    const rand = prng(12);
    const pack = new PackFile(dir, Buffer.allocUnsafe(GATHER_BUFFER), true);
    // Short blobs gathered, long ones written through, one sealed in place: every path of the file.
    pack.add({ id: "a".repeat(64), type: BlobType.data, rawLength: 10, sealed: randomBytesFrom(rand, 1000) });
    pack.add({ id: "b".repeat(64), type: BlobType.data, rawLength: 10, sealed: randomBytesFrom(rand, 300 * 1024) });
    pack.addEncoded("c".repeat(64), BlobType.data, 5, (room, at) => {
      randomBytesFrom(rand, 2000).copy(room(2000), at);
      return { length: 2000 };
    });
    const done = pack.finish(keys);
    const bytes = fs.readFileSync(done.path);
    expect(done.size).toBe(bytes.byteLength);
    expect(done.id).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(done.md5).toBe(createHash("md5").update(bytes).digest("base64"));
    expect(readPackHeader(keys, done.id, bytes, "pack").map((e) => [e.id[0], e.offset, e.length])).toEqual([
      ["a", 0, 1000],
      ["b", 1000, 300 * 1024],
      ["c", 1000 + 300 * 1024, 2000],
    ]);
    PackFile.removeFile(done.path);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("a writer given up on mid-pack closes and removes its pack files (discard)", async () => {
    const dir = await scratch.dir("discard");
    const keys = deriveKeys(Buffer.alloc(32, 7));
    const folder = await PackFolder.make(path.join(dir, "cache"));
    const cache = new IndexCache(path.join(dir, "cache", "index.sqlite"));
    const codec = createCodec(keys, { encode: 1, decode: 0 });
    try {
      const writer = new BlobWriter(new LocalBackend(path.join(dir, "repo")), keys, cache, codec, 16 * 1024 * 1024, folder);
      const rand = prng(9);
      for (let i = 0; i < 8; i++) await writer.add(BlobType.data, randomBytesFrom(rand, 64 * 1024));
      expect(fs.readdirSync(folder.path).length).toBe(1);
      expect(openPackFiles().length).toBe(1);
      writer.discard();
      expect(fs.readdirSync(folder.path)).toEqual([]);
      expect(openPackFiles()).toEqual([]);
    } finally {
      await folder.remove();
      await codec.close();
      cache.close();
    }
  });
});
