// Retries, written once, as a decorator that wraps any Backend (restic's backend/retry). Only
// TransientStorageError is retried (429, 5xx, resets, timeouts, truncated bodies); every other error
// (403, a missing bucket, bad credentials, a missing object) passes through at once.
//
// Every Backend operation is safe to repeat: objects are immutable and content-addressed (a
// repeated PUT writes the same bytes), reads and deletes are idempotent. A listing that fails
// halfway is restarted and the keys already handed out are skipped.

import { StorageError, TransientStorageError } from "../errors.ts";
import type { Backend, ByteRange, LocalFile, ObjectInfo, RequestCounts } from "./backend.ts";

export interface RetryOptions {
  /** Attempts per operation, the first included (default 8). */
  maxAttempts?: number;
  /** Give up once this much time has passed since the first attempt (default 5 minutes). */
  maxElapsedMs?: number;
  /** Delay before the first retry, doubled each time (default 500 ms)... */
  baseDelayMs?: number;
  /** ...up to this (default 30 s). Each delay is jittered to between half and all of it. */
  maxDelayMs?: number;
  /** Called before each retry (for logs and progress). */
  onRetry?: (event: RetryEvent) => void;
  /** Random source in [0, 1) for the jitter (tests pass a seeded one). */
  random?: () => number;
}

interface RetryEvent {
  operation: string;
  key?: string;
  /** The attempt that just failed (1 for the first). */
  attempt: number;
  delayMs: number;
  error: TransientStorageError;
}

export interface RetryStats {
  /** Retries made (attempts beyond the first). */
  retries: number;
  /** Operations that failed after exhausting their retries. */
  gaveUp: number;
}

const DEFAULTS = { maxAttempts: 8, maxElapsedMs: 5 * 60_000, baseDelayMs: 500, maxDelayMs: 30_000 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The delay before retry number `retry` (1-based): exponential, capped, jittered. */
export function backoffDelay(retry: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? DEFAULTS.baseDelayMs;
  const cap = options.maxDelayMs ?? DEFAULTS.maxDelayMs;
  const full = Math.min(cap, base * 2 ** (retry - 1));
  const random = options.random ?? Math.random;
  return Math.round(full / 2 + random() * (full / 2));
}

/**
 * Runs `fn`, retrying transient failures with backoff. Honours Retry-After (waiting at least that
 * long); gives up when attempts or the time budget run out, with a StorageError that keeps the
 * last failure's message and details.
 */
export async function withRetry<T>(operation: string, key: string | undefined, fn: () => Promise<T>, options: RetryOptions = {}, stats?: RetryStats): Promise<T> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts);
  const maxElapsedMs = options.maxElapsedMs ?? DEFAULTS.maxElapsedMs;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof TransientStorageError)) throw err;
      const elapsed = Date.now() - started;
      let delayMs = backoffDelay(attempt, options);
      if (err.retryAfterMs !== undefined) delayMs = Math.max(delayMs, err.retryAfterMs);
      const outOfTime = elapsed + delayMs > maxElapsedMs;
      if (attempt >= maxAttempts || outOfTime) {
        if (stats) stats.gaveUp++;
        const why = attempt >= maxAttempts ? `after ${attempt} attempts` : `after ${attempt} attempts in ${Math.round(elapsed / 100) / 10} s (next wait of ${delayMs} ms would pass the ${maxElapsedMs} ms budget)`;
        throw new StorageError(`${err.message} (gave up ${why})`, err.details, { cause: err });
      }
      if (stats) stats.retries++;
      options.onRetry?.({ operation, ...(key !== undefined ? { key } : {}), attempt, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}

/** A Backend whose every operation is retried on transient failures. */
export class RetryBackend implements Backend {
  readonly inner: Backend;
  readonly location: string;
  private readonly options: RetryOptions;
  private readonly stats: RetryStats = { retries: 0, gaveUp: 0 };

  constructor(inner: Backend, options: RetryOptions = {}) {
    this.inner = inner;
    this.location = inner.location;
    this.options = options;
    if (inner.deleteMany) {
      const deleteMany = inner.deleteMany.bind(inner);
      this.deleteMany = (keys) => withRetry("deleteMany", `${keys.length} objects`, () => deleteMany(keys), this.options, this.stats);
    }
    if (inner.putFileMd5) this.putFileMd5 = true;
    if (inner.putFile) {
      const putFile = inner.putFile.bind(inner);
      this.putFile = (key, file) => withRetry("put", key, () => putFile(key, file), this.options, this.stats);
    }
    if (inner.diagnose) {
      const diagnose = inner.diagnose.bind(inner);
      this.diagnose = () => withRetry("diagnose", undefined, diagnose, this.options, this.stats);
    }
  }

  readonly deleteMany?: (keys: readonly string[]) => Promise<void>;
  readonly putFile?: (key: string, file: LocalFile) => Promise<void>;
  readonly putFileMd5?: boolean;
  readonly diagnose?: () => Promise<string[]>;

  put(key: string, body: Uint8Array): Promise<void> {
    return withRetry("put", key, () => this.inner.put(key, body), this.options, this.stats);
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return withRetry("get", key, () => this.inner.get(key, range), this.options, this.stats);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return withRetry("head", key, () => this.inner.head(key), this.options, this.stats);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Restart a failed listing from the top, skipping what was already handed out (restic does the
    // same). The set holds keys only, a few MB for a million objects.
    const seen = new Set<string>();
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? DEFAULTS.maxAttempts);
    const maxElapsedMs = this.options.maxElapsedMs ?? DEFAULTS.maxElapsedMs;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const info of this.inner.list(prefix)) {
          if (seen.has(info.key)) continue;
          seen.add(info.key);
          yield info;
        }
        return;
      } catch (err) {
        if (!(err instanceof TransientStorageError)) throw err;
        const elapsed = Date.now() - started;
        let delayMs = backoffDelay(attempt, this.options);
        if (err.retryAfterMs !== undefined) delayMs = Math.max(delayMs, err.retryAfterMs);
        if (attempt >= maxAttempts || elapsed + delayMs > maxElapsedMs) {
          this.stats.gaveUp++;
          throw new StorageError(`${err.message} (gave up after ${attempt} attempts)`, err.details, { cause: err });
        }
        this.stats.retries++;
        this.options.onRetry?.({ operation: "list", key: prefix, attempt, delayMs, error: err });
        await sleep(delayMs);
      }
    }
  }

  delete(key: string): Promise<void> {
    return withRetry("delete", key, () => this.inner.delete(key), this.options, this.stats);
  }

  counts(): RequestCounts {
    return this.inner.counts();
  }

  /** Retries made and operations given up so far. */
  retryStats(): RetryStats {
    return { ...this.stats };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Wraps a backend with retries (the default for remote backends in openBackend). */
export function withRetries(backend: Backend, options: RetryOptions = {}): RetryBackend {
  return new RetryBackend(backend, options);
}
