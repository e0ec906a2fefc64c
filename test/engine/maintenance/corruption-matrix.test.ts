import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { IntegrityError, WrongPassphraseError } from "../../../src/errors.ts";
import { Repository, type OpenOptions } from "../../../src/engine/repository.ts";
import { deriveKeys, parseKeyFile, unwrapMasterKey, type RepoKeys } from "../../../src/crypto/index.ts";
import { BlobType } from "../../../src/repo/blob.ts";
import { decodeManifest } from "../../../src/repo/manifest.ts";
import { decodeSnapshot } from "../../../src/repo/snapshot.ts";
import { idOf, keyFileKey, snapshotKey } from "../../../src/repo/layout.ts";
import type { PackEntry } from "../../../src/repo/pack.ts";
import { openBackend } from "../../../src/storage/open.ts";
import type { Backend } from "../../../src/storage/backend.ts";
import { describeTree, makeRandomTree, tempDir, type TreeItem } from "../../helpers/tree.ts";
import { FAST_SCRYPT, PASSPHRASE, objectKeys } from "../../helpers/repo.ts";

// Must-show 3 of issue 14 (invariants 2 and 12): every object type × every kind of damage × a
// warm or an empty index cache. For each: check names every damaged object it can see without
// reading packs, check --read-data finds every one, each snapshot either restores byte-identical
// or fails without writing anything (never corrupted content), every snapshot that does not depend
// on the damage stays listable and restorable, and repair brings back what can be brought back:
// manifests and config at once, lost content once a commit of the same source stores it again.
// The default run covers each (object, damage) pair once, alternating the cache; CLAWBACK_TORTURE=1
// runs both caches for every pair.

const TORTURE = process.env.CLAWBACK_TORTURE === "1";
const SECOND_PASSPHRASE = "another passphrase for the matrix";

type ObjectType = "config" | "key file" | "pack data" | "pack header" | "pack manifest" | "snapshot record" | "listing blob";
type Damage = "flipped byte" | "truncation" | "deletion" | "swap";
const OBJECTS: ObjectType[] = ["config", "key file", "pack data", "pack header", "pack manifest", "snapshot record", "listing blob"];
const DAMAGES: Damage[] = ["flipped byte", "truncation", "deletion", "swap"];

/** The pristine repository every case copies, and what the test knows about it. */
interface Pristine {
  repoDir: string;
  warmCache: string;
  keys: RepoKeys;
  /** Snapshot ids in commit order (S1, S2, S3), each of its own folder, sharing no content. */
  snapshots: string[];
  expected: Map<string, Record<string, TreeItem>>;
  /** Per snapshot: the manifest its commit wrote and the packs in it, with their entries. */
  manifestOf: Map<string, string>;
  packsOf: Map<string, { key: string; entries: PackEntry[] }[]>;
  treeOf: Map<string, string[]>;
  secondKey: string;
  foreignConfig: Buffer;
}

/** What a case expects, derived from the damage it did. */
interface Outcome {
  /** Objects a structural check (no pack reads) must name. */
  named: string[];
  /** Objects check --read-data must name (a superset of named). */
  namedByReadData: string[];
  /** Snapshots that may fail to restore (all others must restore byte-identical). */
  broken: string[];
  /** After repair: snapshots that may still fail; objects check may still name. */
  brokenAfterRepair: string[];
  namedAfterRepair: string[];
  /** Open options the damaged repository needs (a damaged config needs acceptDamagedConfig). */
  needsDamagedConfig?: boolean;
}

let p: Pristine;
const root = { dir: "" };

beforeAll(async () => {
  root.dir = await tempDir("matrix");
  const repoDir = path.join(root.dir, "repo");
  const warmCache = path.join(root.dir, "cache");
  const repo = await Repository.init(repoDir, { passphrase: PASSPHRASE, cacheDir: warmCache, scrypt: FAST_SCRYPT, packSize: 24 * 1024, codecThreads: 0 });
  const raw = await openBackend(repoDir);
  const snapshots: string[] = [];
  const expected = new Map<string, Record<string, TreeItem>>();
  const manifestOf = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const src = path.join(root.dir, `src${i}`);
    await fs.mkdir(src);
    await makeRandomTree(src, 900 + i, { files: 8, maxSize: 30_000 });
    const before = new Set(await objectKeys(raw, "index/"));
    const { snapshot } = await repo.commit(src);
    snapshots.push(snapshot.id);
    expected.set(snapshot.id, await describeTree(src));
    manifestOf.set(snapshot.id, (await objectKeys(raw, "index/")).find((k) => !before.has(k))!);
  }
  const secondKey = await repo.addKey(SECOND_PASSPHRASE);
  await repo.close();

  const keyName = (await objectKeys(raw, "keys/")).find((k) => idOf(k) !== secondKey)!;
  const keys = deriveKeys((await unwrapMasterKey(parseKeyFile(keyName, await raw.get(keyName)), PASSPHRASE))!);
  const packsOf = new Map<string, { key: string; entries: PackEntry[] }[]>();
  const treeOf = new Map<string, string[]>();
  for (const id of snapshots) {
    const manifest = decodeManifest(keys, await raw.get(manifestOf.get(id)!), "m");
    packsOf.set(id, manifest.packs.map((pk) => ({ key: `data/${pk.id.slice(0, 2)}/${pk.id}`, entries: pk.blobs })));
    treeOf.set(id, decodeSnapshot(keys, await raw.get(snapshotKey(id)), "s").tree);
  }
  const other = await Repository.init(path.join(root.dir, "other"), { passphrase: PASSPHRASE, cacheDir: path.join(root.dir, "other-cache"), scrypt: FAST_SCRYPT });
  await other.close();
  const foreignConfig = Buffer.from(await (await openBackend(path.join(root.dir, "other"))).get("config"));
  await raw.close();
  p = { repoDir, warmCache, keys, snapshots, expected, manifestOf, packsOf, treeOf, secondKey, foreignConfig };
}, 120_000);

afterAll(async () => {
  await fs.rm(root.dir, { recursive: true, force: true });
});

async function rewrite(raw: Backend, key: string, change: (b: Buffer) => Buffer): Promise<void> {
  await raw.put(key, change(Buffer.from(await raw.get(key))));
}

const flipAt = (at: number) => (b: Buffer) => {
  const out = Buffer.from(b);
  out[at] = out[at]! ^ 0x40;
  return out;
};

/** A blob of S2 of the given type, with the pack that holds it. */
function blobOf(snapshot: string, pick: (e: PackEntry) => boolean): { key: string; entry: PackEntry } {
  for (const pack of p.packsOf.get(snapshot)!) {
    const entry = pack.entries.find(pick);
    if (entry) return { key: pack.key, entry };
  }
  throw new Error("no such blob");
}

/** Swaps `n` bytes at two places of two objects (blobs swapped between packs, in place). */
async function swapBytes(raw: Backend, a: { key: string; at: number }, b: { key: string; at: number }, n: number): Promise<void> {
  const bufA = Buffer.from(await raw.get(a.key));
  const bufB = Buffer.from(await raw.get(b.key));
  const partA = Buffer.from(bufA.subarray(a.at, a.at + n));
  bufB.subarray(b.at, b.at + n).copy(bufA, a.at);
  partA.copy(bufB, b.at);
  await raw.put(a.key, bufA);
  await raw.put(b.key, bufB);
}

/** Applies one damage to a copy of the pristine repository and says what must follow. */
async function damage(raw: Backend, object: ObjectType, kind: Damage): Promise<Outcome> {
  const [s1, s2, s3] = p.snapshots as [string, string, string];
  const none: Outcome = { named: [], namedByReadData: [], broken: [], brokenAfterRepair: [], namedAfterRepair: [] };
  switch (object) {
    case "config": {
      if (kind === "flipped byte") await rewrite(raw, "config", flipAt(20));
      if (kind === "truncation") await rewrite(raw, "config", (b) => b.subarray(0, b.length >> 1));
      if (kind === "deletion") await raw.delete("config");
      if (kind === "swap") await raw.put("config", p.foreignConfig);
      return { ...none, named: ["config"], namedByReadData: ["config"], needsDamagedConfig: true };
    }
    case "key file": {
      // The second passphrase's key file: the first one must still open everything.
      const key = keyFileKey(p.secondKey);
      if (kind === "flipped byte") await rewrite(raw, key, flipAt(40));
      if (kind === "truncation") await rewrite(raw, key, (b) => b.subarray(0, b.length - 7));
      if (kind === "deletion") await raw.delete(key);
      if (kind === "swap") {
        const first = (await objectKeys(raw, "keys/")).find((k) => k !== key)!;
        await raw.put(key, Buffer.from(await raw.get(first)));
      }
      // A deleted key file is named by nothing (no object lists the key files): only its
      // passphrase stops opening the repository.
      const named = kind === "deletion" ? [] : [key];
      return { ...none, named, namedByReadData: named, namedAfterRepair: named };
    }
    case "pack data": {
      const { key, entry } = blobOf(s2, (e) => e.type === BlobType.data && e.length > 64);
      if (kind === "flipped byte") {
        await rewrite(raw, key, flipAt(entry.offset + (entry.length >> 1)));
        // Found only by reading the pack; nothing can be rebuilt (the blob has no other copy).
        return { ...none, namedByReadData: [key], broken: [s2], brokenAfterRepair: [s2], namedAfterRepair: [key, snapshotKey(s2)] };
      }
      if (kind === "swap") {
        const other = blobOf(s3, (e) => e.type === BlobType.data && e.length > 64);
        await swapBytes(raw, { key, at: entry.offset }, { key: other.key, at: other.entry.offset }, Math.min(entry.length, other.entry.length));
        return { ...none, namedByReadData: [key, other.key], broken: [s2, s3], brokenAfterRepair: [s2, s3], namedAfterRepair: [key, other.key, snapshotKey(s2), snapshotKey(s3)] };
      }
      if (kind === "truncation") await rewrite(raw, key, (b) => b.subarray(0, entry.offset + 1));
      if (kind === "deletion") await raw.delete(key);
      // What is left of a truncated pack stays indexed (and damaged); a deleted one is gone.
      const left = kind === "truncation" ? [key] : [];
      return { ...none, named: [key, snapshotKey(s2)], namedByReadData: [key, snapshotKey(s2)], broken: [s2], brokenAfterRepair: [s2], namedAfterRepair: [...left, snapshotKey(s2)] };
    }
    case "pack header": {
      // S2's largest pack: the manifest still says where every blob is.
      const pack = p.packsOf.get(s2)!.reduce((a, b) => (a.entries.length >= b.entries.length ? a : b));
      const bytes = Buffer.from(await raw.get(pack.key));
      const blobEnd = Math.max(...pack.entries.map((e) => e.offset + e.length));
      if (kind === "flipped byte") await raw.put(pack.key, flipAt(blobEnd + 20)(bytes));
      if (kind === "truncation") await raw.put(pack.key, bytes.subarray(0, bytes.length - 10));
      if (kind === "deletion") await raw.put(pack.key, bytes.subarray(0, blobEnd));
      if (kind === "swap") {
        // Another pack's (genuine, authenticated) header in place of this one's.
        const other = p.packsOf.get(s3)![0]!;
        const otherBytes = Buffer.from(await raw.get(other.key));
        const otherEnd = Math.max(...other.entries.map((e) => e.offset + e.length));
        await raw.put(pack.key, Buffer.concat([bytes.subarray(0, blobEnd), otherBytes.subarray(otherEnd)]));
      }
      // Every blob is still where the manifest says: nothing is lost, only the pack's hash.
      const sizeChanged = kind !== "flipped byte";
      return { ...none, named: sizeChanged ? [pack.key] : [], namedByReadData: [pack.key], namedAfterRepair: [pack.key] };
    }
    case "pack manifest": {
      const key = p.manifestOf.get(s2)!;
      if (kind === "flipped byte") await rewrite(raw, key, flipAt(30));
      if (kind === "truncation") await rewrite(raw, key, (b) => b.subarray(0, b.length >> 1));
      if (kind === "deletion") await raw.delete(key);
      if (kind === "swap") await raw.put(key, Buffer.from(await raw.get(p.manifestOf.get(s3)!)));
      // Its packs are read from their headers: S2 stays restorable. A deleted manifest is named
      // by the packs no manifest lists any more.
      const named = kind === "deletion" ? p.packsOf.get(s2)!.map((pk) => pk.key) : [key];
      return { ...none, named, namedByReadData: named };
    }
    case "snapshot record": {
      const key = snapshotKey(s2);
      if (kind === "flipped byte") await rewrite(raw, key, flipAt(30));
      if (kind === "truncation") await rewrite(raw, key, (b) => b.subarray(0, b.length - 1));
      if (kind === "deletion") await raw.delete(key);
      if (kind === "swap") await raw.put(key, Buffer.from(await raw.get(snapshotKey(s3))));
      // A deleted record is a forgotten snapshot: nothing names it, nothing else depends on it.
      const named = kind === "deletion" ? [] : [key];
      return { ...none, named, namedByReadData: named, broken: [s2], brokenAfterRepair: [s2] };
    }
    case "listing blob": {
      const tree = p.treeOf.get(s2)!;
      const { key, entry } = blobOf(s2, (e) => tree.includes(e.id));
      if (kind === "flipped byte") await rewrite(raw, key, flipAt(entry.offset + (entry.length >> 1)));
      if (kind === "truncation") await rewrite(raw, key, (b) => b.subarray(0, entry.offset + (entry.length >> 1)));
      if (kind === "deletion") await rewrite(raw, key, (b) => Buffer.concat([b.subarray(0, entry.offset), Buffer.alloc(entry.length), b.subarray(entry.offset + entry.length)]));
      const broken = [s2];
      if (kind === "swap") {
        const other = blobOf(s3, (e) => p.treeOf.get(s3)!.includes(e.id));
        await swapBytes(raw, { key, at: entry.offset }, { key: other.key, at: other.entry.offset }, Math.min(entry.length, other.entry.length));
        broken.push(s3);
        return { ...none, named: [key, other.key, snapshotKey(s2), snapshotKey(s3)], namedByReadData: [key, other.key], broken, brokenAfterRepair: broken, namedAfterRepair: [key, other.key, snapshotKey(s2), snapshotKey(s3)] };
      }
      // The listing cannot be rebuilt (it has no other copy): S2 stays reported, its pack damaged.
      return { ...none, named: [snapshotKey(s2)], namedByReadData: [key, snapshotKey(s2)], broken, brokenAfterRepair: broken, namedAfterRepair: [key, snapshotKey(s2)] };
    }
  }
  void s1;
}

interface Case {
  object: ObjectType;
  kind: Damage;
  cache: "warm" | "empty";
}

function cases(): Case[] {
  const out: Case[] = [];
  let i = 0;
  for (const object of OBJECTS) {
    for (const kind of DAMAGES) {
      if (TORTURE) for (const cache of ["warm", "empty"] as const) out.push({ object, kind, cache });
      else out.push({ object, kind, cache: i++ % 2 === 0 ? "empty" : "warm" });
    }
  }
  return out;
}

/** Restores every snapshot; each either matches its source exactly or fails having written nothing. */
async function restoreAll(repo: Repository, dir: string, broken: readonly string[], label: string): Promise<string[]> {
  const failed: string[] = [];
  for (const [i, id] of p.snapshots.entries()) {
    const dst = path.join(dir, `${label}-${i}`);
    const err = await repo.checkout(id, dst, { safetySnapshot: false }).then(() => undefined, (e: unknown) => e);
    if (err === undefined) {
      expect(await describeTree(dst), `snapshot S${i + 1} restored after ${label}`).toEqual(p.expected.get(id));
    } else {
      expect(broken, `snapshot S${i + 1} failed after ${label}: ${(err as Error).message}`).toContain(id);
      expect(await fs.lstat(dst).catch(() => undefined), `a failed checkout of S${i + 1} wrote its target`).toBeUndefined();
      expect((await fs.readdir(dir)).filter((n) => n.includes("clawback-staging"))).toEqual([]);
      failed.push(id);
    }
  }
  return failed;
}

describe("corruption matrix (must-show 3, invariants 2 and 12)", () => {
  it.each(cases())("$object × $kind, $cache cache", async ({ object, kind, cache }) => {
    const dir = await fs.mkdtemp(path.join(root.dir, "case-"));
    const repoDir = path.join(dir, "repo");
    const cacheDir = path.join(dir, "cache");
    await fs.cp(p.repoDir, repoDir, { recursive: true });
    if (cache === "warm") await fs.cp(p.warmCache, cacheDir, { recursive: true });
    const raw = await openBackend(repoDir);
    const outcome = await damage(raw, object, kind);
    await raw.close();

    const opts: OpenOptions = { passphrase: PASSPHRASE, cacheDir, codecThreads: 0 };
    const opened: Repository[] = [];
    const open = async (more: Partial<OpenOptions> = {}) => {
      const r = await Repository.open(repoDir, { ...opts, ...more });
      opened.push(r);
      return r;
    };
    try {
      if (outcome.needsDamagedConfig) {
        // A damaged config is named at open, and nothing else is done with it.
        const err = await open().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(IntegrityError);
        expect((err as IntegrityError).object).toBe("config");
      }
      const warnings: string[] = [];
      const repo = await open({ acceptDamagedConfig: outcome.needsDamagedConfig === true, progress: { warn: (w) => warnings.push(w.path) } });

      // Every snapshot that does not depend on the damage is listed.
      const listed = (await repo.log()).map((s) => s.id);
      for (const id of p.snapshots) if (!outcome.broken.includes(id)) expect(listed).toContain(id);

      const structural = await repo.check();
      for (const name of outcome.named) expect(structural.damaged, `check names ${name}: ${structural.errors.join("; ")}`).toContain(name);
      if (outcome.named.length === 0 && outcome.namedByReadData.length === 0) expect(structural.errors).toEqual([]);
      const full = await repo.check({ readData: true });
      for (const name of outcome.namedByReadData) expect(full.damaged, `check --read-data names ${name}: ${full.errors.join("; ")}`).toContain(name);
      expect(full.ok).toBe(outcome.namedByReadData.length === 0);

      await restoreAll(repo, dir, outcome.broken, "before");

      const repaired = await repo.repair({ removeDamagedSnapshots: object === "snapshot record", readData: true });
      if (object === "config") expect(repaired.configRestored).toBe(true);
      if (object === "pack manifest") expect(repaired.manifestsWritten.length).toBe(1);
      if (object === "snapshot record" && kind !== "deletion") expect(repaired.damagedSnapshots.map((d) => d.removed)).toEqual([true]);
      await repo.close();

      // After repair the repository opens as usual, and from an empty cache too.
      const after = await open({ cacheDir: path.join(dir, "cache-after") });
      const afterCheck = await after.check({ readData: true });
      for (const name of afterCheck.damaged) expect(outcome.namedAfterRepair, `still named after repair: ${afterCheck.errors.join("; ")}`).toContain(name);
      await restoreAll(after, dir, outcome.brokenAfterRepair, "after-repair");
      if (object === "snapshot record") expect((await after.log()).map((s) => s.id)).toEqual(p.snapshots.filter((id) => id !== p.snapshots[1]));
      // What repair left out of the index is stored again by a commit of the same content, and
      // the snapshots that needed it are whole again (a removed record stays removed).
      if (object !== "snapshot record" && outcome.brokenAfterRepair.length) {
        for (const id of outcome.brokenAfterRepair) await after.commit(path.join(root.dir, `src${p.snapshots.indexOf(id)}`));
        await restoreAll(after, dir, [], "recommit");
      }
      if (object === "key file" && kind === "deletion") {
        await expect(Repository.open(repoDir, { ...opts, passphrase: SECOND_PASSPHRASE })).rejects.toBeInstanceOf(WrongPassphraseError);
      }
    } finally {
      for (const r of opened) await r.close().catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
