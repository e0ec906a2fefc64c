import { randomInt } from "node:crypto";
import { ClawbackError, IntegrityError, UsageError } from "../../errors.ts";
import { CONFIG_KEY, DATA_PREFIX, INDEX_PREFIX, KEYS_PREFIX, SNAPSHOTS_PREFIX, idOf, isObjectId, packKey, packsInBucket, snapshotKey } from "../../repo/layout.ts";
import { parseConfig } from "../../repo/config.ts";
import { acquireReadLock } from "../../repo/lock.ts";
import { keyFileId, openConfigCopy, parseKeyFile } from "../../crypto/keyfile.ts";
import { decodeBlob } from "../../repo/blob.ts";
import { decodeManifest } from "../../repo/manifest.ts";
import { PACK_TRAILER_BYTES, packHeaderFromBytes, packHeaderLength, type PackEntry } from "../../repo/pack.ts";
import { decodeSnapshot, type SnapshotRecord } from "../../repo/snapshot.ts";
import { getVerified, syncIndex } from "../../index/sync.ts";
import { createHash } from "node:crypto";
import { open } from "../../crypto/seal.ts";
import type { RepoContext } from "../context.ts";
import type { CheckOptions, CheckResult, DamagedObject } from "../types.ts";
import { snapshotNeeds } from "./snapshot-needs.ts";

/** What check needs from the open repository beyond its context. */
export interface CheckKeys {
  /** To open the config copies sealed in version 2 key files. */
  master: Uint8Array;
  /** Set when the opened key file's config copy differs from `config` (the repository was opened anyway). */
  configDamage?: string;
}

/**
 * Structure check, always from the bucket (never trusting the cache): config against its sealed
 * copies, key files, every manifest and snapshot record re-read and authenticated, every pack a
 * manifest names present with its size, every blob a snapshot needs in a usable pack. With
 * readData, packs are downloaded, hashed and every blob opened. Every problem is collected, each
 * naming its object (invariant 12); nothing stops at the first.
 */
export async function check(ctx: RepoContext, opts: CheckOptions = {}, keys?: CheckKeys): Promise<CheckResult> {
  const warnings: string[] = [];
  // A prune elsewhere would delete manifests and packs between their listing and their reading:
  // damage that is not there.
  const lock = await acquireReadLock(ctx.backend, ctx.keys, "check", (message) => warnings.push(message));
  try {
    return await checkLocked(ctx, opts, keys, warnings);
  } finally {
    await lock.release();
  }
}

async function checkLocked(ctx: RepoContext, opts: CheckOptions, keys: CheckKeys | undefined, warnings: string[]): Promise<CheckResult> {
  const problems: DamagedObject[] = [];
  const report = (object: string, message: string) => {
    if (!problems.some((p) => p.object === object && p.message === message)) problems.push({ object, message });
  };
  /** Runs one step; a failure is recorded against `object` (or the object the error names). */
  const attempt = async (object: string, what: () => Promise<void>) => {
    try {
      await what();
    } catch (err) {
      if (!(err instanceof ClawbackError)) throw err;
      report(err instanceof IntegrityError ? err.object : object, err.message);
    }
  };

  // Config and key files.
  let configBytes: Buffer | undefined;
  await attempt(CONFIG_KEY, async () => {
    configBytes = Buffer.from(await ctx.backend.get(CONFIG_KEY));
    parseConfig(configBytes);
  });
  if (keys?.configDamage) report(CONFIG_KEY, `integrity check failed for config: ${keys.configDamage}`);
  let authenticated = false;
  for await (const obj of ctx.backend.list(KEYS_PREFIX)) {
    await attempt(obj.key, async () => {
      const bytes = await ctx.backend.get(obj.key);
      if (keyFileId(bytes) !== idOf(obj.key)) throw new IntegrityError(obj.key, "content does not hash to its name");
      const file = parseKeyFile(obj.key, bytes);
      const copy = keys && openConfigCopy(obj.key, file, keys.master);
      if (!copy) return;
      authenticated = true;
      if (configBytes && !copy.equals(configBytes)) report(CONFIG_KEY, `integrity check failed for config: differs from the authenticated copy in ${obj.key}`);
    });
  }
  if (keys && !authenticated) warnings.push("config is not authenticated: every key file predates the sealed config copy (a repository made by an older clawback); 'clawback key add' writes a key file that has one");

  // Listings and deltas' bases are read through the cache: bring it up to date with the bucket
  // (it also indexes packs no readable manifest lists from their headers).
  await attempt(INDEX_PREFIX, async () => {
    const sync = await syncIndex(ctx.cache, ctx.backend, ctx.keys);
    for (const d of sync.damaged) if (d.object.startsWith(DATA_PREFIX)) report(d.object, d.message);
  });

  const packSizes = await packsInBucket(ctx.backend);

  const manifestPacks = new Map<string, PackEntry[]>();
  for await (const obj of ctx.backend.list(INDEX_PREFIX)) {
    await attempt(obj.key, async () => {
      const manifest = decodeManifest(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key);
      for (const pack of manifest.packs) {
        const size = packSizes.get(pack.id);
        if (size === undefined) report(packKey(pack.id), `${packKey(pack.id)} is listed in ${obj.key} but missing from the repository`);
        else if (size !== pack.size) report(packKey(pack.id), `${packKey(pack.id)} has ${size} bytes, ${obj.key} says ${pack.size} (truncated or replaced)`);
        manifestPacks.set(pack.id, pack.blobs);
      }
    });
  }
  const indexed = new Map(ctx.cache.packs().map((p) => [p.id, p]));
  // A pack is usable when it is in the bucket with the size the index has for it.
  const usablePack = (id: string) => packSizes.get(id) !== undefined && packSizes.get(id) === indexed.get(id)?.size;
  const usable = (blob: string) => {
    const loc = ctx.cache.blob(blob);
    return loc !== undefined && usablePack(loc.pack);
  };
  // Nothing refers to a partial write, so it harms no snapshot: a warning, not an error.
  for (const prefix of [DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX]) {
    for await (const p of ctx.backend.partialWrites?.(prefix) ?? []) warnings.push(`${p.key} (${p.size} bytes) is a partial write of an interrupted command (or of one running now); prune removes it`);
  }

  const records: { key: string; id: string; record: SnapshotRecord }[] = [];
  for await (const obj of ctx.backend.list(SNAPSHOTS_PREFIX)) {
    const id = idOf(obj.key);
    if (!isObjectId(id)) continue;
    await attempt(obj.key, async () => void records.push({ key: obj.key, id, record: decodeSnapshot(ctx.keys, await getVerified(ctx.backend, obj.key), obj.key) }));
  }

  // Packs are read before the listings are walked: the listings' blobs are then opened from packs
  // already downloaded whole, as are the bases of deltas (see basesFirst), so that each pack is
  // downloaded once.
  let packsRead = 0;
  const selected = selectPacks([...packSizes.keys()].sort(), opts);
  const toRead = basesFirst(ctx, selected, (id) => manifestPacks.get(id));
  const kept = new BaseKeeper(ctx, toRead, (id) => manifestPacks.get(id));
  for (const r of records) kept.keep(r.record.tree);
  for (const packId of toRead) {
    await attempt(packKey(packId), async () => {
      await readPack(ctx, packId, manifestPacks.get(packId), kept, report, (w) => warnings.push(w));
      packsRead++;
      opts.progress?.progress?.({ phase: "check", files: packsRead, totalFiles: toRead.length, bytes: 0 });
    });
  }
  const readListing = async (ids: string[]): Promise<Buffer[]> => {
    const known = ids.map((id) => kept.get(id));
    return known.every((b) => b !== undefined) ? (known as Buffer[]) : ctx.reader.readMany(ids);
  };

  const neededUnlisted = new Map<string, string[]>();
  for (const { key, id, record } of records) {
    const obj = { key };
    await attempt(obj.key, async () => {
      const needs = await snapshotNeeds(ctx, id, record, usable, readListing);
      if (needs.missingTree.length) report(obj.key, `${obj.key}: ${needs.missingTree.length} blobs of its listing are in no usable pack`);
      if (needs.listingError) {
        const at = needs.listingError instanceof IntegrityError ? needs.listingError.object : obj.key;
        report(at, needs.listingError.message);
        report(obj.key, `${obj.key}: its listing cannot be read (${needs.listingError.message})`);
      }
      if (needs.files.length) {
        const missingPacks = [...needs.packs].filter((p) => !usablePack(p)).map(packKey);
        report(obj.key, `${obj.key}: ${needs.files.length} files need ${needs.missing.size} blobs that are in no usable pack${missingPacks.length ? ` (${missingPacks.join(", ")})` : ""}, e.g. ${JSON.stringify(needs.files[0])}`);
      }
      for (const p of needs.packs) if (indexed.get(p)?.manifest === "" && usablePack(p)) neededUnlisted.set(p, [...(neededUnlisted.get(p) ?? []), snapshotKey(id)]);
    });
  }
  for (const [pack, snaps] of neededUnlisted) {
    report(packKey(pack), `${packKey(pack)} is listed in no readable pack manifest, and ${snaps.length} snapshots need it (read from its header; 'clawback repair' writes a manifest for it)`);
  }
  for (const id of packSizes.keys()) {
    if (!manifestPacks.has(id) && !neededUnlisted.has(id)) warnings.push(`${packKey(id)} is not listed in any manifest (left by an interrupted commit, or its manifest is lost; prune removes it, repair indexes it)`);
  }

  // Backend-specific findings (B2: deleted objects kept as hidden versions without a lifecycle rule).
  await attempt("storage", async () => void warnings.push(...((await ctx.backend.diagnose?.()) ?? [])));

  const errors = problems.map((p) => (p.message.includes(p.object) ? p.message : `${p.object}: ${p.message}`));
  return { ok: problems.length === 0, errors, warnings, packsRead, damaged: [...new Set(problems.map((p) => p.object))] };
}

/**
 * Reads one whole pack and reports everything wrong with it: its hash, its header, each blob that
 * does not open (not only the first), and manifest entries that do not match the header.
 */
/**
 * The packs in an order where a pack holding deltas comes after the packs (of this run) holding
 * their bases, so that each base is opened from a pack read whole rather than fetched again by
 * range: with it `check --read-data` downloads each pack once (bench/speed.ts counted one extra
 * range GET per delta base without it).
 */
function basesFirst(ctx: RepoContext, packs: string[], entriesOf: (pack: string) => PackEntry[] | undefined): string[] {
  const inRun = new Set(packs);
  const seen = new Set<string>();
  const ordered: string[] = [];
  const visit = (pack: string): void => {
    if (seen.has(pack)) return;
    seen.add(pack);
    for (const e of entriesOf(pack) ?? []) {
      const basePack = e.base ? ctx.cache.blob(e.base)?.pack : undefined;
      if (basePack && basePack !== pack && inRun.has(basePack)) visit(basePack);
    }
    ordered.push(pack);
  };
  for (const pack of packs) visit(pack);
  return ordered;
}

/**
 * Plaintexts of blobs met in packs already read that are needed later: delta bases, kept until the
 * last delta on them is read, and the snapshots' listing blobs, kept to the end (they are small).
 */
class BaseKeeper {
  private readonly waiting = new Map<string, number>();
  private readonly listing = new Set<string>();
  private readonly plain = new Map<string, Buffer>();

  constructor(ctx: RepoContext, packs: string[], entriesOf: (pack: string) => PackEntry[] | undefined) {
    const inRun = new Set(packs);
    for (const pack of packs) {
      for (const e of entriesOf(pack) ?? []) {
        const basePack = e.base ? ctx.cache.blob(e.base)?.pack : undefined;
        if (basePack && inRun.has(basePack)) this.waiting.set(e.base!, (this.waiting.get(e.base!) ?? 0) + 1);
      }
    }
  }

  /** Keeps these blobs (a listing's) once opened. */
  keep(ids: readonly string[]): void {
    for (const id of ids) this.listing.add(id);
  }

  /** A blob was opened: keep it if a delta still to be read is based on it, or a listing needs it. */
  opened(id: string, data: Buffer): void {
    if (this.waiting.has(id) || this.listing.has(id)) this.plain.set(id, data);
  }

  get(id: string): Buffer | undefined {
    return this.plain.get(id);
  }

  /** A delta on `base` was read. */
  used(base: string): void {
    const left = (this.waiting.get(base) ?? 1) - 1;
    if (left > 0) this.waiting.set(base, left);
    else {
      this.waiting.delete(base);
      if (!this.listing.has(base)) this.plain.delete(base);
    }
  }
}

async function readPack(ctx: RepoContext, packId: string, listed: PackEntry[] | undefined, kept: BaseKeeper, report: (object: string, message: string) => void, warn: (message: string) => void): Promise<void> {
  const key = packKey(packId);
  const bytes = await ctx.backend.get(key);
  if (createHash("sha256").update(bytes).digest("hex") !== packId) report(key, `integrity check failed for ${key}: pack bytes do not hash to the pack id`);
  let header: PackEntry[] | undefined;
  try {
    const length = packHeaderLength(bytes.subarray(bytes.byteLength - PACK_TRAILER_BYTES), bytes.byteLength, key);
    header = packHeaderFromBytes(ctx.keys, bytes.subarray(bytes.byteLength - PACK_TRAILER_BYTES - length, bytes.byteLength - PACK_TRAILER_BYTES), bytes.byteLength, key);
  } catch (err) {
    if (!(err instanceof IntegrityError)) throw err;
    report(key, err.message);
  }
  if (header && listed) {
    const inHeader = new Map(header.map((e) => [e.id, e]));
    const wrong = listed.filter((e) => {
      const h = inHeader.get(e.id);
      return !h || h.offset !== e.offset || h.length !== e.length || h.base !== e.base;
    });
    if (wrong.length) report(key, `${key}: ${wrong.length} blobs are not where the manifest says`);
  }
  // Every blob, by the header or (when it cannot be read) by the manifest; whole blobs first, so
  // that a delta on a blob of this same pack finds its base opened.
  const entries = [...(header ?? listed ?? [])].sort((a, b) => Number(a.base !== undefined) - Number(b.base !== undefined));
  const here = new Set(entries.map((e) => e.id));
  const basesHere = new Set(entries.flatMap((e) => (e.base && here.has(e.base) ? [e.base] : [])));
  // Deltas open against their bases: from a pack read before (BaseKeeper) or from this one, else
  // read (and verified) through the index.
  const bases = new Map<string, Buffer | ClawbackError>();
  const baseOf = async (id: string): Promise<Buffer | ClawbackError> => {
    const known = kept.get(id) ?? bases.get(id);
    if (known) return known;
    const read = await ctx.reader.readMany([id]).then((r) => r[0]!, (err: unknown) => {
      if (!(err instanceof ClawbackError)) throw err;
      return err;
    });
    bases.set(id, read);
    return read;
  };
  let bad = 0;
  let first = "";
  let spare = 0;
  for (const e of entries) {
    try {
      if (e.offset + e.length > bytes.byteLength) throw new IntegrityError(key, "blob past the end of the pack");
      const base = e.base ? await baseOf(e.base) : undefined;
      if (base instanceof ClawbackError) {
        // A second copy of a blob, stored as a delta by one machine while another stored it whole
        // (two commits of the same new page group at once): every cache takes the whole copy, and
        // a prune that found the base unused otherwise removed it. Nothing needs this copy (the
        // one the index holds is read where its own pack is) and its delta cannot be undone, but
        // its bytes are still authenticated: they are the ones written.
        const held = ctx.cache.blob(e.id);
        if (held && held.pack !== packId && !held.base && open(ctx.keys.encryption, bytes.subarray(e.offset, e.offset + e.length), Buffer.from(e.id, "hex"))) {
          spare++;
          continue;
        }
        throw new IntegrityError(key, `its base ${e.base!.slice(0, 16)}… cannot be read (${base.message})`);
      }
      const data = decodeBlob(ctx.keys, e.id, bytes.subarray(e.offset, e.offset + e.length), key, { baseOf: (id) => (id === e.base ? base : undefined) });
      kept.opened(e.id, data);
      if (basesHere.has(e.id)) bases.set(e.id, data);
      if (e.base) kept.used(e.base);
    } catch (err) {
      if (!(err instanceof ClawbackError)) throw err;
      bad++;
      first ||= `blob ${e.id.slice(0, 16)}… (${err.message})`;
    }
  }
  if (bad) report(key, `${key}: ${bad} of its ${entries.length} blobs cannot be read, e.g. ${first}`);
  if (spare) warn(`${key} holds ${spare} spare delta copies of blobs stored whole elsewhere whose bases were pruned: unused, they go when a prune rewrites the pack`);
}

function selectPacks(ids: string[], opts: CheckOptions): string[] {
  if (opts.readDataSubset) {
    const slice = /^(\d+)\/(\d+)$/.exec(opts.readDataSubset);
    if (slice) {
      const n = Number(slice[1]);
      const m = Number(slice[2]);
      if (m < 1 || n < 1 || n > m) throw new UsageError(`--read-data-subset ${opts.readDataSubset}: n/m needs 1 ≤ n ≤ m`);
      return ids.filter((_, i) => i % m === n - 1);
    }
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(opts.readDataSubset);
    if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100) {
      const want = Math.max(1, Math.round((ids.length * Number(pct[1])) / 100));
      const pool = [...ids];
      const out: string[] = [];
      while (out.length < want && pool.length) out.push(pool.splice(randomInt(pool.length), 1)[0]!);
      return out;
    }
    throw new UsageError(`--read-data-subset ${opts.readDataSubset}: use n/m (e.g. 1/5) or a percentage (e.g. 10%)`);
  }
  return opts.readData ? ids : [];
}
