import * as os from "node:os";
import * as path from "node:path";
import { IntegrityError, KeyFilesMissingError, ObjectNotFoundError, RepositoryExistsError, RepositoryNotFoundError, UnsupportedFormatError, UsageError, WrongPassphraseError } from "../errors.ts";
import type { Backend, RequestCounts } from "../storage/backend.ts";
import { openBackend, type BackendOptions } from "../storage/open.ts";
import { deriveKeys, generateMasterKey, type RepoKeys } from "../crypto/keys.ts";
import { createKeyFile, keyFileId, openConfigCopy, parseKeyFile, unwrapMasterKey, type KeyFile, type ScryptParams } from "../crypto/keyfile.ts";
import type { Chunker, ChunkerParams } from "../chunker/index.ts";
import { CONFIG_KEY, KEYS_PREFIX, idOf, keyFileKey } from "../repo/layout.ts";
import { FORMAT_VERSION, READABLE_VERSIONS, encodeConfig, newConfig, parseConfig, type RepoConfig } from "../repo/config.ts";
import { IndexCache } from "../index/cache.ts";
import { removeLocks, type LockInfo } from "../repo/lock.ts";
import { syncIndexBesidePrune } from "../index/resync.ts";
import { BlobReader } from "./blob-reader.ts";
import { createCodec, type BlobCodec, type CodecThreads } from "./codec/codec-pool.ts";
import { DEFAULT_SQLITE_GROUP_PAGES } from "./sqlite/group-pages.ts";
import type { RepoContext } from "./context.ts";
import { commit } from "./commit/commit.ts";
// Checkout and the maintenance commands are loaded when first called: a commit (the command run
// most, often with nothing to store) would otherwise compile and link a third more modules.
import { recoverTarget, type RecoveryReport } from "./checkout/recover.ts";
import { listSnapshots, loadListing, resolveSnapshot, summarize } from "./snapshots.ts";
import { isUnder } from "./listing.ts";
import { SourceScan } from "./commit/source-scan.ts";
import type {
  Change, CheckOptions, CheckResult, CheckoutOptions, CheckoutResult, CommitOptions, CommitScrub, CommitResult, DamagedObject, FileEntry, ForgetResult, KeyInfo,
  ProgressSink, PruneOptions, PruneResult, RepairOptions, RepairResult, RepoStats, RetentionPolicy, SnapshotSummary, Warning,
} from "./types.ts";

export interface OpenOptions {
  passphrase: string;
  /** Folder for the local index cache (default $XDG_CACHE_HOME/clawback or ~/.cache/clawback). */
  cacheDir?: string;
  backendOptions?: BackendOptions;
  /** Wraps the backend (fault injection in tests, request accounting). */
  wrapBackend?: (backend: Backend) => Backend;
  /** Worker threads that compress and seal, and that open blobs (default: see defaultCodecThreads; 0 = inline). */
  codecThreads?: number | CodecThreads;
  /**
   * Where damaged objects found while reading the repository are reported (each once per open
   * repository, as a warning whose path is the object's name): they are skipped (invariant 12).
   */
  progress?: ProgressSink;
  /**
   * Open even when `config` is missing or differs from the authenticated copy in the key file,
   * using that copy (what `check` and `repair` need; `repair` then writes it back). Otherwise such
   * a config is an IntegrityError naming `config`.
   */
  acceptDamagedConfig?: boolean;
}

export interface InitOptions extends OpenOptions {
  chunker?: ChunkerParams;
  sqliteGroupPages?: number;
  packSize?: number;
  scrypt?: ScryptParams;
}

export interface UnlockResult {
  removed: LockInfo[];
  kept: LockInfo[];
  /** Locks that do not open with this repository's key (removed too with `all`). */
  unreadable: string[];
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "clawback");
}

/** An open repository: the library's entry point, used by the CLI and the plugin alike. */
export class Repository {
  private readonly ctx: RepoContext;
  private readonly keyId: string;
  /** Kept only so `key add` can wrap it under another passphrase. */
  private readonly master: Buffer;
  private readonly scrypt: ScryptParams | undefined;
  private readonly closeCodec: () => Promise<void>;

  /** The authenticated config bytes: what `key add` seals into a new key file and `repair` writes back. */
  private readonly configBytes: Buffer;
  /** Set when `config` in the bucket is missing or differs from the authenticated copy. */
  private configDamage: string | undefined;
  private readonly progress: ProgressSink | undefined;
  /** Damaged objects already reported through `progress`. */
  private readonly reported = new Set<string>();

  private constructor(
    ctx: RepoContext,
    unlocked: { master: Buffer; keyId: string },
    closeCodec: () => Promise<void>,
    scrypt: ScryptParams | undefined,
    more: { configBytes: Buffer; configDamage?: string; progress?: ProgressSink },
  ) {
    this.ctx = ctx;
    this.closeCodec = closeCodec;
    this.keyId = unlocked.keyId;
    this.master = unlocked.master;
    this.scrypt = scrypt;
    this.configBytes = more.configBytes;
    this.configDamage = more.configDamage;
    this.progress = more.progress;
  }

  get id(): string {
    return this.ctx.config.id;
  }

  get location(): string {
    return this.ctx.backend.location;
  }

  static async init(url: string, opts: InitOptions): Promise<Repository> {
    requirePassphrase(opts.passphrase);
    const backend = await connect(url, opts);
    // A listing rather than a HEAD: a missing bucket or refused credentials are then named before
    // anything is written (a HEAD answer has no body to say which it was).
    for await (const obj of backend.list(CONFIG_KEY)) if (obj.key === CONFIG_KEY) throw new RepositoryExistsError(backend.location);
    const config = encodeConfig(newConfig({
      ...(opts.chunker ? { chunker: opts.chunker } : {}),
      sqliteGroupPages: opts.sqliteGroupPages ?? DEFAULT_SQLITE_GROUP_PAGES,
      ...(opts.packSize ? { packSize: opts.packSize } : {}),
    }));
    // The key file carries a sealed copy of config: config itself is plaintext (it is read before
    // the key), and the copy is what authenticates it at every open.
    const keyFile = await createKeyFile(generateMasterKey(), opts.passphrase, opts.scrypt, config);
    await backend.put(keyFileKey(keyFile.id), keyFile.bytes);
    // The config is written last: its presence is what makes a folder a repository.
    await backend.put(CONFIG_KEY, config);
    await backend.close();
    return Repository.open(url, opts);
  }

  static async open(url: string, opts: OpenOptions): Promise<Repository> {
    requirePassphrase(opts.passphrase);
    const backend = await connect(url, opts);
    try {
      // The key files are listed while config is fetched: over B2 a round trip less per command.
      const keyFiles = keyFileKeys(backend);
      keyFiles.catch(() => {}); // met below, unless reading config fails first
      const stored = await backend.get(CONFIG_KEY).then((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), (err: unknown) => {
        if (err instanceof ObjectNotFoundError) return undefined;
        throw err;
      });
      // Without config and without key files there is no repository here; with key files, config
      // was lost and a version 2 key file still has it.
      if (!stored && (await keyFiles).length === 0) throw new RepositoryNotFoundError(backend.location);
      // A version this build does not know is reported before the passphrase is tried.
      if (stored) peekVersion(stored);
      const unlocked = await unlock(backend, opts.passphrase, await keyFiles);
      const { config, bytes: configBytes, damage } = authenticConfig(stored, unlocked, backend.location);
      if (damage && !opts.acceptDamagedConfig) throw new IntegrityError(CONFIG_KEY, `${damage}; 'clawback repair' writes it back from that copy`);
      const keys = deriveKeys(unlocked.master);
      const cache = new IndexCache(path.join(opts.cacheDir ?? defaultCacheDir(), config.id, "index.sqlite"));
      const codec = lazyCodec(keys, opts.codecThreads);
      const ctx: RepoContext = { backend, keys, config, cache, chunker: lazyChunker(config.chunker, keys.gear), reader: new BlobReader(backend, keys, cache), codec: codec.get };
      const repo = new Repository(ctx, unlocked, codec.close, (opts as InitOptions).scrypt, { configBytes, ...(damage ? { configDamage: damage } : {}), ...(opts.progress ? { progress: opts.progress } : {}) });
      await repo.refresh();
      return repo;
    } catch (err) {
      await backend.close();
      throw err;
    }
  }

  /**
   * Begins walking a folder to commit, before (and while) the repository opens: pass the result
   * to commit() as `scan`, with the same folder and excludes.
   */
  static scan(dir: string, opts: { excludes?: readonly string[] } = {}): SourceScan {
    // A folder a checkout was swapping into when it crashed is put in order before it is walked.
    const notices: Warning[] = [];
    return new SourceScan(dir, opts.excludes, recoverTarget(dir, { warn: (w) => notices.push(w) }).then(() => notices));
  }

  /**
   * Puts a folder that a crashed checkout was restoring into back in order (invariant 11): its
   * swap finished (or undone when it had changed nothing), stale staging folders removed. What it
   * does is reported through `progress.warn` and returned. Needs no open repository (the plugin
   * calls it at startup); checkout and commit call it for their folder first.
   */
  static recover(dir: string, opts: { progress?: ProgressSink } = {}): Promise<RecoveryReport> {
    return recoverTarget(dir, opts.progress);
  }

  commit(dir: string, opts: CommitOptions = {}): Promise<CommitResult> {
    return commit(this.ctx, dir, opts.scan ? opts : { ...opts, scan: Repository.scan(dir, { excludes: opts.excludes ?? [] }) });
  }

  checkout(ref: string, dir: string, opts?: CheckoutOptions): Promise<CheckoutResult> {
    return import("./checkout/checkout.ts").then(({ checkout }) => checkout(this.ctx, ref, dir, opts));
  }

  async log(): Promise<SnapshotSummary[]> {
    await this.refresh();
    return listSnapshots(this.ctx);
  }

  async show(ref: string): Promise<SnapshotSummary> {
    await this.refresh();
    const { id, record } = resolveSnapshot(this.ctx, ref);
    return summarize(id, record);
  }

  /** The snapshot's entries, optionally only those under `prefix`. */
  async ls(ref: string, prefix?: string): Promise<FileEntry[]> {
    await this.refresh();
    const { id, record } = resolveSnapshot(this.ctx, ref);
    const entries = await loadListing(this.ctx, record, id);
    return prefix ? entries.filter((e) => isUnder(e.path, prefix)) : entries;
  }

  /** Changes from snapshot `a` to snapshot `b`, or to the current content of a folder (through the scrub its commits use). */
  async diff(a: string, b: string | { dir: string; scrub?: CommitScrub }): Promise<Change[]> {
    await this.refresh();
    const { diffSnapshots } = await import("./maintenance/diff.ts");
    return diffSnapshots(this.ctx, a, b);
  }

  /**
   * Objects found damaged and skipped when the repository was last read (invariant 12): pack
   * manifests, snapshot records, pack headers, and `config` when it differs from its
   * authenticated copy. `check` looks further (every pack, every listing).
   */
  damaged(): DamagedObject[] {
    return [...(this.configDamage ? [{ object: CONFIG_KEY, message: `integrity check failed for config: ${this.configDamage}` }] : []), ...this.ctx.cache.damaged()];
  }

  async forget(refs: string[]): Promise<ForgetResult> {
    await this.refresh();
    const { forgetSnapshots } = await import("./maintenance/forget.ts");
    return forgetSnapshots(this.ctx, refs);
  }

  async forgetByPolicy(policy: RetentionPolicy, opts: { dryRun?: boolean } = {}): Promise<ForgetResult> {
    await this.refresh();
    const { forgetByPolicy } = await import("./maintenance/forget.ts");
    return forgetByPolicy(this.ctx, policy, opts);
  }

  prune(opts: PruneOptions = {}): Promise<PruneResult> {
    return import("./maintenance/prune.ts").then(({ prune }) => prune(this.ctx, opts));
  }

  check(opts?: CheckOptions): Promise<CheckResult> {
    return import("./maintenance/check.ts").then(({ check }) => check(this.ctx, opts, { master: this.master, ...(this.configDamage ? { configDamage: this.configDamage } : {}) }));
  }

  /**
   * Rebuilds what can be rebuilt (invariant 12): pack manifests from pack headers, `config` from
   * its authenticated copy; reports snapshot records that cannot be read (removed only with
   * `removeDamagedSnapshots`) and snapshots whose blobs are gone, naming the files affected.
   */
  async repair(opts: RepairOptions = {}): Promise<RepairResult> {
    const { repair } = await import("./maintenance/repair.ts");
    const result = await repair(this.ctx, opts, { configBytes: this.configBytes, ...(this.configDamage ? { configDamage: this.configDamage } : {}) });
    if (result.configRestored && !result.dryRun) this.configDamage = undefined;
    return result;
  }

  async stats(): Promise<RepoStats> {
    await this.refresh();
    const { repoStats } = await import("./maintenance/stats.ts");
    return repoStats(this.ctx);
  }

  async addKey(passphrase: string): Promise<string> {
    requirePassphrase(passphrase);
    const file = await createKeyFile(this.master, passphrase, this.scrypt, this.configBytes);
    await this.ctx.backend.put(keyFileKey(file.id), file.bytes);
    return file.id;
  }

  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for await (const obj of this.ctx.backend.list(KEYS_PREFIX)) {
      const id = idOf(obj.key);
      try {
        const bytes = await this.ctx.backend.get(obj.key);
        if (keyFileId(bytes) !== id) throw new IntegrityError(obj.key, "key file content does not hash to its name");
        const file = parseKeyFile(obj.key, bytes);
        out.push({ id, created: file.created, host: file.host, current: id === this.keyId });
      } catch (err) {
        // A damaged key file is named, not a reason to hide the others (invariant 12).
        if (!(err instanceof IntegrityError)) throw err;
        this.progress?.warn?.({ path: obj.key, message: `skipped: ${err.message}` });
      }
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async removeKey(idOrPrefix: string): Promise<void> {
    const keys = await this.listKeys();
    const matches = keys.filter((k) => k.id.startsWith(idOrPrefix));
    if (matches.length !== 1) throw new UsageError(`key '${idOrPrefix}' matches ${matches.length} key files`);
    const victim = matches[0]!;
    if (victim.current) throw new UsageError("refusing to remove the key file this session was opened with; open with another passphrase first");
    if (keys.length === 1) throw new UsageError("refusing to remove the last key file");
    await this.ctx.backend.delete(keyFileKey(victim.id));
  }

  /**
   * Removes locks that hold nothing off any more (see staleReason in repo/lock.ts), or with `all`
   * every lock (only for a user who knows no commit or prune of any machine is running).
   */
  unlock(opts: { all?: boolean } = {}): Promise<UnlockResult> {
    return removeLocks(this.ctx.backend, this.ctx.keys, opts);
  }

  requestCounts(): RequestCounts {
    return this.ctx.backend.counts();
  }

  async close(): Promise<void> {
    await this.closeCodec();
    this.ctx.cache.close();
    await this.ctx.backend.close();
  }

  private async refresh(): Promise<void> {
    const report = await syncIndexBesidePrune(this.ctx.cache, this.ctx.backend, this.ctx.keys);
    for (const d of report.damaged) {
      if (this.reported.has(d.object)) continue;
      this.reported.add(d.object);
      this.progress?.warn?.({ path: d.object, message: `skipped: ${d.message}` });
    }
  }
}

function requirePassphrase(passphrase: string): void {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new UsageError("a passphrase is required (CLAWBACK_PASSPHRASE, --passphrase-file, or the prompt)");
}

async function connect(url: string, opts: OpenOptions): Promise<Backend> {
  const backend = await openBackend(url, opts.backendOptions);
  return opts.wrapBackend ? opts.wrapBackend(backend) : backend;
}

/** Starts the codec's threads only when a command first stores or restores something. */
/** A chunker made on first call; a failed creation is not kept, so a later call tries again. */
function lazyChunker(params: ChunkerParams, gearKey: Uint8Array): () => Promise<Chunker> {
  let chunker: Promise<Chunker> | undefined;
  return () => {
    if (!chunker) {
      chunker = import("../chunker/index.ts").then(({ Chunker, gearTableFromKey }) => Chunker.create(params, gearTableFromKey(gearKey)));
      chunker.catch(() => (chunker = undefined));
    }
    return chunker;
  };
}

function lazyCodec(keys: RepoKeys, threads: number | CodecThreads | undefined): { get: () => BlobCodec; close: () => Promise<void> } {
  let codec: BlobCodec | undefined;
  return {
    get: () => (codec ??= createCodec(keys, threads)),
    close: async () => {
      await codec?.close();
      codec = undefined;
    },
  };
}

async function keyFileKeys(backend: Backend): Promise<string[]> {
  const keys: string[] = [];
  for await (const obj of backend.list(KEYS_PREFIX)) keys.push(obj.key);
  return keys;
}

/** Reads only the format version, so an unknown one is named before anything else is tried. */
function peekVersion(bytes: Uint8Array): void {
  let version: unknown;
  try {
    version = (JSON.parse(Buffer.from(bytes).toString("utf8")) as { version?: unknown })?.version;
  } catch {
    return; // not JSON: reported once the authentic copy (if any) is known
  }
  if (typeof version === "number" && !READABLE_VERSIONS.includes(version)) throw new UnsupportedFormatError(version, FORMAT_VERSION);
}

/**
 * The config to use and whether the bucket's copy is damaged. A version 2 key file holds the
 * authentic config bytes: the bucket's must equal them. A version 1 key file (a repository from
 * before config was authenticated) has none: the bucket's config is taken as it is.
 */
function authenticConfig(stored: Buffer | undefined, unlocked: Unlocked, location: string): { config: RepoConfig; bytes: Buffer; damage?: string } {
  const copy = openConfigCopy(keyFileKey(unlocked.keyId), unlocked.file, unlocked.master);
  if (!copy) {
    if (!stored) throw new RepositoryNotFoundError(location);
    return { config: parseConfig(stored), bytes: stored };
  }
  const config = parseConfig(copy);
  if (!stored) return { config, bytes: copy, damage: `missing from the repository (${keyFileKey(unlocked.keyId)} holds an authenticated copy)` };
  if (!stored.equals(copy)) return { config, bytes: copy, damage: `differs from the authenticated copy in ${keyFileKey(unlocked.keyId)} (edited, swapped or corrupted)` };
  return { config, bytes: copy };
}

interface Unlocked {
  master: Buffer;
  keyId: string;
  file: KeyFile;
}

/**
 * Tries each key file until one opens with the passphrase. A damaged key file is skipped (another
 * passphrase's file must not lock this one out); when none opens, the damage is what is reported,
 * since the passphrase may have been for the damaged file.
 */
async function unlock(backend: Backend, passphrase: string, keyFiles: readonly string[]): Promise<Unlocked> {
  let damaged: IntegrityError | undefined;
  for (const key of keyFiles) {
    const id = idOf(key);
    try {
      const bytes = await backend.get(key);
      if (keyFileId(bytes) !== id) throw new IntegrityError(key, "key file content does not hash to its name");
      const file = parseKeyFile(key, bytes);
      const master = await unwrapMasterKey(file, passphrase);
      if (master) return { master, keyId: id, file };
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      damaged ??= err;
    }
  }
  if (keyFiles.length === 0) throw new KeyFilesMissingError(backend.location);
  if (damaged) throw damaged;
  throw new WrongPassphraseError();
}
