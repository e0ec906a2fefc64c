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

/** Credentials were refused or lack a capability the operation needs. */
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
