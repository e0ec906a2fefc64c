// Every failure clawback reports is one of these classes, so callers (CLI, plugin, tests) can tell
// them apart without parsing messages. Messages name the object, path, key or setting at fault and
// never contain a secret.

export class ClawbackError extends Error {
  /** Process exit code the CLI uses for this class of failure (see docs/cli.md). */
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line argument, bad config value, unknown option. */
export class UsageError extends ClawbackError {
  override readonly exitCode = 2;
}

/** A configuration key is missing or invalid; `key` names it. */
export class ConfigError extends ClawbackError {
  override readonly exitCode = 2;
  readonly key: string;
  constructor(key: string, message: string) {
    super(`${key}: ${message}`);
    this.key = key;
  }
}

/** No key file in the repository opens with the given passphrase. */
export class WrongPassphraseError extends ClawbackError {
  override readonly exitCode = 3;
  constructor() {
    super("wrong passphrase: no key file in this repository opens with it");
  }
}

/** A repository was expected at the location and none is there. */
export class RepositoryNotFoundError extends ClawbackError {
  override readonly exitCode = 4;
  readonly location: string;
  constructor(location: string) {
    super(`no clawback repository at ${location} (run 'clawback init' first)`);
    this.location = location;
  }
}

export class RepositoryExistsError extends ClawbackError {
  override readonly exitCode = 4;
  readonly location: string;
  constructor(location: string) {
    super(`a clawback repository already exists at ${location}`);
    this.location = location;
  }
}

/** The repository's format version is one this build does not know. */
export class UnsupportedFormatError extends ClawbackError {
  override readonly exitCode = 4;
  constructor(found: unknown, supported: number) {
    super(`repository format version ${String(found)} is not supported (this clawback reads versions 1 to ${supported})`);
  }
}

/** A snapshot reference (id, prefix, "latest") matched nothing, or more than one snapshot. */
export class SnapshotNotFoundError extends ClawbackError {
  override readonly exitCode = 5;
  readonly ref: string;
  constructor(ref: string, detail = "no such snapshot") {
    super(`snapshot '${ref}': ${detail}`);
    this.ref = ref;
  }
}

/** A stored object is missing. `key` is its name in the repository. */
export class ObjectNotFoundError extends ClawbackError {
  override readonly exitCode = 6;
  readonly key: string;
  constructor(key: string, location?: string) {
    super(`object ${key} not found${location ? ` in ${location}` : ""}`);
    this.key = key;
  }
}

/**
 * The repository has a config but no key file: without one the master key, and so every
 * snapshot, cannot be opened.
 */
export class KeyFilesMissingError extends ClawbackError {
  override readonly exitCode = 6;
  readonly location: string;
  constructor(location: string) {
    super(`no key files in ${location}: keys/ is empty, so nothing in the repository can be opened (put back keys/ from a copy of the repository)`);
    this.location = location;
  }
}

/**
 * An object failed authentication or verification: a flipped byte, a truncated pack, a blob whose
 * recomputed id differs. Nothing from it is ever returned as data.
 */
export class IntegrityError extends ClawbackError {
  override readonly exitCode = 7;
  readonly object: string;
  constructor(object: string, detail: string) {
    super(`integrity check failed for ${object}: ${detail}`);
    this.object = object;
  }
}

/**
 * zstd failed on a buffer: compression of a chunk, or decompression of a frame that is malformed or
 * larger than allowed (a blob reader turns the latter into an IntegrityError naming the object).
 */
export class CodecError extends ClawbackError {}

export interface StorageErrorDetails {
  operation: string;
  key?: string;
  status?: number;
  location?: string;
}

/** A storage request failed for good (after retries, or at once for a permanent status). */
export class StorageError extends ClawbackError {
  override readonly exitCode = 8;
  readonly details: StorageErrorDetails;
  constructor(message: string, details: StorageErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }
}

/**
 * The repository's storage has no room for a write (a local repository's disk is full, or its
 * quota used up). One error for the whole command: nothing about the file being committed.
 */
export class RepositoryFullError extends StorageError {
  constructor(location: string, key: string, options?: { cause?: unknown }) {
    super(`the repository at ${location} is full: no space left to write ${key} (free space there, or run 'clawback prune', which deletes before it writes)`, { operation: "put", key, location }, options);
  }
}

/** Credentials were refused or lack a capability the operation needs (for a local folder: its permissions or a read-only mount). */
export class StorageAuthError extends StorageError {}

/**
 * A storage request failed in a way that may succeed if repeated: 429, 500, 502, 503, 504, a
 * connection reset, a timeout, a truncated body. The retry decorator (storage/retry.ts) retries
 * these and, when it gives up, reports a plain StorageError.
 */
export class TransientStorageError extends StorageError {
  /** The delay the server asked for (Retry-After), in milliseconds, when it gave one. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: StorageErrorDetails, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, details, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Another process holds a lock that conflicts with this operation. */
export class LockedError extends ClawbackError {
  override readonly exitCode = 9;
}

/**
 * The lock a command held no longer holds: another process removed it (set aside as stale after
 * half an hour without a refresh, as when this machine slept mid-command, or by `unlock --all`), or
 * a prune took the repository meanwhile. What the command wrote or reuses may be deleted, so it
 * lists nothing; running it again is safe.
 */
export class LockLostError extends LockedError {
  constructor(purpose: string, why: string) {
    super(`the ${purpose}'s lock on the repository no longer holds (${why}); a prune may have deleted what it wrote or reuses, so nothing was listed: run it again`);
  }
}

/**
 * A manifest or snapshot record was deleted while this command read the repository, twice: a
 * prune (or forget) ran at the same time. Nothing is damaged; running the command again works.
 */
export class ConcurrentPruneError extends LockedError {
  readonly key: string;
  constructor(location: string, key: string, options?: { cause?: unknown }) {
    super(`${key} was deleted in ${location} while this command read it: a prune or forget ran at the same time (the repository is not damaged); run the command again`, options);
    this.key = key;
  }
}

/** A local path (source folder, checkout target) is missing or unusable. */
export class PathError extends ClawbackError {
  override readonly exitCode = 10;
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.path = path;
  }
}

/**
 * A folder that holds temporary copies (the scratch folder a commit copies live databases into)
 * has no room left for one; `path` is that folder.
 */
export class ScratchFullError extends PathError {}

/**
 * A commit's scrub (CommitScrub) failed on a file, or left its copy unsound: the commit fails
 * rather than store the file unscrubbed or list a snapshot without it. `path` names the file.
 */
export class ScrubError extends ClawbackError {
  readonly path: string;
  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super(`${path}: scrub failed: ${detail}`, options);
    this.path = path;
  }
}

/**
 * A checkout target that overlaps what the checkout reads from or must keep (invariant 11): it
 * holds, or lies inside, the repository or the index cache. Replacing it would delete them.
 * `protects` is the path that would be lost.
 */
export class TargetOverlapError extends PathError {
  readonly protects: string;
  constructor(target: string, detail: string, protects: string) {
    super(target, detail);
    this.protects = protects;
  }
}

/** A path longer than the file system allows (a name over NAME_MAX, a path over PATH_MAX). */
export class PathTooLongError extends PathError {}

/**
 * An interrupted checkout (its swap journal beside the target) could not be finished or undone:
 * what is on disk is not what the journal expects (the target was made again since). Nothing was
 * removed; the message names where the old and the restored trees are.
 */
export class CheckoutRecoveryError extends PathError {}

/** Another process (alive, on this host) is swapping a checkout into the same target. */
export class CheckoutInProgressError extends LockedError {}

/** A snapshot listing names a path that would land outside the restore target. */
export class UnsafePathError extends ClawbackError {
  override readonly exitCode = 11;
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`refusing unsafe path ${JSON.stringify(path)}: ${detail}`);
    this.path = path;
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends ClawbackError {
  override readonly exitCode = 130;
  constructor() {
    super("operation cancelled");
  }
}
