import * as os from "node:os";
import * as path from "node:path";
import { IntegrityError, KeyFilesMissingError, ObjectNotFoundError, RepositoryExistsError, RepositoryNotFoundError, UsageError, WrongPassphraseError } from "../errors.ts";
import type { Backend, RequestCounts } from "../storage/backend.ts";
import { openBackend, type BackendOptions } from "../storage/open.ts";
import { deriveKeys, generateMasterKey, type RepoKeys } from "../crypto/keys.ts";
import { createKeyFile, keyFileId, parseKeyFile, unwrapMasterKey, type ScryptParams } from "../crypto/keyfile.ts";
import { Chunker, gearTableFromKey, type ChunkerParams } from "../chunker/index.ts";
import { CONFIG_KEY, KEYS_PREFIX, idOf, keyFileKey } from "../repo/layout.ts";
import { encodeConfig, newConfig, parseConfig, type RepoConfig } from "../repo/config.ts";
import { IndexCache } from "../index/cache.ts";
import { removeLocks, type LockInfo } from "../repo/lock.ts";
import { syncIndexBesidePrune } from "../index/resync.ts";
import { BlobReader } from "./blob-reader.ts";
import { createCodec, type BlobCodec, type CodecThreads } from "./codec/codec-pool.ts";
import { DEFAULT_SQLITE_GROUP_PAGES } from "./sqlite/sqlite-capture.ts";
import type { RepoContext } from "./context.ts";
import { commit } from "./commit/commit.ts";
import { checkout } from "./checkout/checkout.ts";
import { recoverTarget, type RecoveryReport } from "./checkout/recover.ts";
import { diffSnapshots } from "./maintenance/diff.ts";
import { forgetByPolicy, forgetSnapshots } from "./maintenance/forget.ts";
import { prune } from "./maintenance/prune.ts";
import { check } from "./maintenance/check.ts";
import { repoStats } from "./maintenance/stats.ts";
import { listSnapshots, loadListing, resolveSnapshot, summarize } from "./snapshots.ts";
import { isUnder } from "./listing.ts";
import { SourceScan } from "./commit/source-scan.ts";
import type {
  Change, CheckOptions, CheckResult, CheckoutOptions, CheckoutResult, CommitOptions, CommitScrub, CommitResult, FileEntry, ForgetResult, KeyInfo,
  ProgressSink, PruneOptions, PruneResult, RepoStats, RetentionPolicy, SnapshotSummary, Warning,
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

  private constructor(ctx: RepoContext, unlocked: { master: Buffer; keyId: string }, closeCodec: () => Promise<void>, scrypt?: ScryptParams) {
    this.ctx = ctx;
    this.closeCodec = closeCodec;
    this.keyId = unlocked.keyId;
    this.master = unlocked.master;
    this.scrypt = scrypt;
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
    const config = newConfig({
      ...(opts.chunker ? { chunker: opts.chunker } : {}),
      sqliteGroupPages: opts.sqliteGroupPages ?? DEFAULT_SQLITE_GROUP_PAGES,
      ...(opts.packSize ? { packSize: opts.packSize } : {}),
    });
    const keyFile = await createKeyFile(generateMasterKey(), opts.passphrase, opts.scrypt);
    await backend.put(keyFileKey(keyFile.id), keyFile.bytes);
    // The config is written last: its presence is what makes a folder a repository.
    await backend.put(CONFIG_KEY, encodeConfig(config));
    await backend.close();
    return Repository.open(url, opts);
  }

  static async open(url: string, opts: OpenOptions): Promise<Repository> {
    requirePassphrase(opts.passphrase);
    const backend = await connect(url, opts);
    try {
      let config: RepoConfig;
      try {
        config = parseConfig(await backend.get(CONFIG_KEY));
      } catch (err) {
        if (err instanceof ObjectNotFoundError) throw new RepositoryNotFoundError(backend.location);
        throw err;
      }
      const unlocked = await unlock(backend, opts.passphrase);
      const keys = deriveKeys(unlocked.master);
      const cache = new IndexCache(path.join(opts.cacheDir ?? defaultCacheDir(), config.id, "index.sqlite"));
      const chunker = await Chunker.create(config.chunker, gearTableFromKey(keys.gear));
      const codec = lazyCodec(keys, opts.codecThreads);
      const ctx: RepoContext = { backend, keys, config, cache, chunker, reader: new BlobReader(backend, keys, cache), codec: codec.get };
      await syncIndexBesidePrune(cache, backend, keys);
      return new Repository(ctx, unlocked, codec.close, (opts as InitOptions).scrypt);
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
    return checkout(this.ctx, ref, dir, opts);
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
    return diffSnapshots(this.ctx, a, b);
  }

  async forget(refs: string[]): Promise<ForgetResult> {
    await this.refresh();
    return forgetSnapshots(this.ctx, refs);
  }

  async forgetByPolicy(policy: RetentionPolicy, opts: { dryRun?: boolean } = {}): Promise<ForgetResult> {
    await this.refresh();
    return forgetByPolicy(this.ctx, policy, opts);
  }

  prune(opts: PruneOptions = {}): Promise<PruneResult> {
    return prune(this.ctx, opts);
  }

  check(opts?: CheckOptions): Promise<CheckResult> {
    return check(this.ctx, opts);
  }

  async stats(): Promise<RepoStats> {
    await this.refresh();
    return repoStats(this.ctx);
  }

  async addKey(passphrase: string): Promise<string> {
    requirePassphrase(passphrase);
    const file = await createKeyFile(this.master, passphrase, this.scrypt);
    await this.ctx.backend.put(keyFileKey(file.id), file.bytes);
    return file.id;
  }

  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for await (const obj of this.ctx.backend.list(KEYS_PREFIX)) {
      const id = idOf(obj.key);
      const file = parseKeyFile(obj.key, await this.ctx.backend.get(obj.key));
      out.push({ id, created: file.created, host: file.host, current: id === this.keyId });
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
    await syncIndexBesidePrune(this.ctx.cache, this.ctx.backend, this.ctx.keys);
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

/** Tries each key file until one opens with the passphrase. */
async function unlock(backend: Backend, passphrase: string): Promise<{ master: Buffer; keyId: string }> {
  let sawKey = false;
  for await (const obj of backend.list(KEYS_PREFIX)) {
    const id = idOf(obj.key);
    sawKey = true;
    const bytes = await backend.get(obj.key);
    if (keyFileId(bytes) !== id) throw new IntegrityError(obj.key, "key file content does not hash to its name");
    const master = await unwrapMasterKey(parseKeyFile(obj.key, bytes), passphrase);
    if (master) return { master, keyId: id };
  }
  if (!sawKey) throw new KeyFilesMissingError(backend.location);
  throw new WrongPassphraseError();
}
