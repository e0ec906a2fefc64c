import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { IntegrityError, StorageError, UnsafePathError } from "../../../src/errors.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { deriveKeys, chunkId, type RepoKeys } from "../../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../../src/crypto/keyfile.ts";
import { encodeBlob, BlobType } from "../../../src/repo/blob.ts";
import { PackWriter } from "../../../src/repo/pack.ts";
import { encodeManifest } from "../../../src/repo/manifest.ts";
import { encodeSnapshot } from "../../../src/repo/snapshot.ts";
import { manifestKey, packKey, snapshotKey } from "../../../src/repo/layout.ts";
import { listingBlocks } from "../../../src/engine/listing.ts";
import type { FileEntry } from "../../../src/engine/types.ts";
import { describeTree, makeRandomTree } from "../../helpers/tree.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { PASSPHRASE } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";

async function repoKeys(url: string): Promise<RepoKeys> {
  const dir = path.join(url, "keys");
  const name = (await fs.readdir(dir))[0]!;
  const master = await unwrapMasterKey(parseKeyFile(name, await fs.readFile(path.join(dir, name))), PASSPHRASE);
  return deriveKeys(master!);
}

/** Writes a snapshot whose listing is exactly `entries` (file content given per path). */
async function craftSnapshot(url: string, entries: FileEntry[], content: Record<string, Buffer> = {}, tamper?: (e: FileEntry) => void): Promise<string> {
  const keys = await repoKeys(url);
  const backend = new LocalBackend(url);
  const pack = new PackWriter();
  for (const e of entries) {
    const data = content[e.path];
    if (e.type === "file" && data) {
      const id = chunkId(keys, data);
      pack.add(encodeBlob(keys, BlobType.data, data, id));
      Object.assign(e, { chunks: [id], size: data.length });
    }
    tamper?.(e);
  }
  const listing = Buffer.concat([...listingBlocks(entries)]);
  const treeId = chunkId(keys, listing);
  pack.add(encodeBlob(keys, BlobType.tree, listing, treeId));
  const finished = pack.finish(keys);
  await backend.put(packKey(finished.id), finished.bytes);
  const manifest = encodeManifest(keys, { packs: [{ id: finished.id, size: finished.bytes.length, blobs: finished.entries }] });
  await backend.put(manifestKey(manifest.id), manifest.bytes);
  const stats = { files: 1, dirs: 0, bytes: 0, addedBytes: 0, addedChunks: 0, addedPacks: 0, filesRead: 0, durationMs: 0 };
  const snap = encodeSnapshot(keys, { version: 1, time: new Date().toISOString(), host: "evil", reason: "crafted", tags: [], root: "/x", tree: [treeId], excludes: [], stats });
  await backend.put(snapshotKey(snap.id), snap.bytes);
  return snap.id;
}

describe("checkout safety", () => {
  const scratch = useScratch();

  it("a checkout that fails midway leaves the target exactly as it was", async () => {
    const t = await scratch.repo({ packSize: 256 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 41);
    const { snapshot } = await t.repo.commit(src);
    await fs.writeFile(path.join(src, "a", "changed.txt"), "after the snapshot");
    await fs.rm(path.join(src, "with space"), { recursive: true });
    const before = await describeTree(src, { dirTimes: true });

    const faulty = await t.reopen({ wrapBackend: (b) => faultyBackend(b, { failGetFrom: 4, getPrefix: "data/" }) });
    const err = await faulty.checkout(snapshot.id, src, { safetySnapshot: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(await describeTree(src, { dirTimes: true })).toEqual(before);
    expect((await fs.readdir(path.dirname(src))).filter((n) => n.includes(path.basename(src)) && n !== path.basename(src))).toEqual([]);
  });

  it.each([
    ["a ../ path", { path: "../escape.txt", type: "file", mode: 0o644, mtimeMs: 0, size: 0 }],
    ["a nested ../ path", { path: "a/../../escape.txt", type: "file", mode: 0o644, mtimeMs: 0, size: 0 }],
    ["an absolute path", { path: "/tmp/clawback-escape.txt", type: "file", mode: 0o644, mtimeMs: 0, size: 0 }],
    ["an escaping symlink", { path: "link", type: "symlink", mode: 0o777, mtimeMs: 0, size: 0, target: "../../etc" }],
    ["an absolute symlink", { path: "link", type: "symlink", mode: 0o777, mtimeMs: 0, size: 0, target: "/etc/passwd" }],
  ] as [string, FileEntry][])("a crafted snapshot with %s is refused and nothing is written", async (_label, bad) => {
    const t = await scratch.repo();
    const good: FileEntry = { path: "fine.txt", type: "file", mode: 0o644, mtimeMs: 0, size: 0 };
    const id = await craftSnapshot(t.url, [good, bad], { "fine.txt": Buffer.from("ok"), [bad.path]: Buffer.from("pwned") });
    const parent = await scratch.dir("dst");
    const repo = await t.reopen();
    const err = await repo.checkout(id, path.join(parent, "out")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafePathError);
    expect(await fs.readdir(parent)).toEqual([]);
    await expect(fs.stat("/tmp/clawback-escape.txt")).rejects.toThrow();
  });

  it("a listing whose size disagrees with its chunks is refused before anything lands in the target", async () => {
    const t = await scratch.repo();
    const entry: FileEntry = { path: "x.txt", type: "file", mode: 0o644, mtimeMs: 0, size: 0 };
    const id = await craftSnapshot(t.url, [entry], { "x.txt": Buffer.from("content") }, (e) => {
      e.size = 1000;
    });
    const parent = await scratch.dir("dst");
    const repo = await t.reopen();
    const err = await repo.checkout(id, path.join(parent, "out")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain("x.txt");
    expect(await fs.readdir(parent)).toEqual([]);
  });
});
