// Writes a snapshot that no commit would write (a hostile listing), through the repository's own
// encoding functions and with the repository's real key, unwrapped from its key file with the
// passphrase: what a forger holding the key, or a bug in an older clawback, could put there.

import { deriveKeys, type RepoKeys } from "../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../src/crypto/keyfile.ts";
import { BlobType, encodeBlob } from "../../src/repo/blob.ts";
import { PackWriter } from "../../src/repo/pack.ts";
import { encodeManifest } from "../../src/repo/manifest.ts";
import { encodeSnapshot } from "../../src/repo/snapshot.ts";
import { KEYS_PREFIX, manifestKey, packKey, snapshotKey } from "../../src/repo/layout.ts";
import { listingBlocks } from "../../src/engine/listing.ts";
import { chunkId } from "../../src/crypto/keys.ts";
import type { Backend } from "../../src/storage/backend.ts";

/** The repository's keys, from its first key file that `passphrase` opens. */
export async function repoKeys(backend: Backend, passphrase: string): Promise<RepoKeys> {
  for await (const obj of backend.list(KEYS_PREFIX)) {
    const master = await unwrapMasterKey(parseKeyFile(obj.key, await backend.get(obj.key)), passphrase);
    if (master) return deriveKeys(master);
  }
  throw new Error("no key file opens with this passphrase");
}

/** A listing entry as it is stored; files name their content, which craftSnapshot stores. */
export type CraftedEntry =
  | { path: string; type: "dir"; mode?: number }
  | { path: string; type: "file"; content: string; mode?: number }
  | { path: string; type: "symlink"; target: string };

/** Stores the entries' content, the listing, a manifest and a snapshot record; returns the snapshot id. */
export async function craftSnapshot(backend: Backend, keys: RepoKeys, entries: readonly CraftedEntry[]): Promise<string> {
  const pack = new PackWriter();
  const stored = entries.map((e) => {
    const common = { path: e.path, mtimeMs: 1_700_000_000_000 };
    if (e.type === "dir") return { ...common, type: "dir" as const, mode: e.mode ?? 0o755, size: 0 };
    if (e.type === "symlink") return { ...common, type: "symlink" as const, mode: 0o777, size: e.target.length, target: e.target };
    const data = Buffer.from(e.content);
    const blob = encodeBlob(keys, BlobType.data, data);
    pack.add(blob);
    return { ...common, type: "file" as const, mode: e.mode ?? 0o644, size: data.length, chunks: [chunkId(keys, data)] };
  });
  const listing = Buffer.concat([...listingBlocks(stored)]);
  const tree = encodeBlob(keys, BlobType.tree, listing);
  pack.add(tree);
  const done = pack.finish(keys);
  await backend.put(packKey(done.id), Buffer.from(done.bytes));
  const manifest = encodeManifest(keys, { packs: [{ id: done.id, size: done.bytes.length, blobs: done.entries }] });
  await backend.put(manifestKey(manifest.id), manifest.bytes);
  const snap = encodeSnapshot(keys, {
    version: 1,
    time: new Date().toISOString(),
    host: "forger",
    reason: "crafted",
    tags: [],
    root: "/crafted",
    tree: [tree.id],
    excludes: [],
    stats: { files: stored.length, dirs: 0, bytes: 0, addedBytes: 0, addedChunks: 0, addedPacks: 1, filesRead: 0, durationMs: 0 },
  });
  await backend.put(snapshotKey(snap.id), snap.bytes);
  return snap.id;
}
