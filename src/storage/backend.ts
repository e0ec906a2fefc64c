// The one interface every store implements. Keys are relative to the repository's root
// (e.g. "data/ab/ab12…", "snapshots/…") and always use "/" separators.

export interface ObjectInfo {
  key: string;
  size: number;
}

/** What a write that never finished left behind (see Backend.partialWrites). */
export interface PartialWrite extends ObjectInfo {
  /** When it was last written to, in ms since the epoch. */
  modifiedMs: number;
}

export interface ByteRange {
  offset: number;
  length: number;
  /**
   * A buffer of at least `length` bytes the caller will not touch until it is done with the
   * result: a backend that can read straight into memory (the local one) returns a view of it,
   * so a restore reuses a few buffers instead of allocating one per range. Others ignore it.
   */
  into?: Uint8Array;
}

/** Request counts and bytes by kind, for stats and for B2 transaction classes. */
export interface RequestCounts {
  put: number;
  get: number;
  head: number;
  list: number;
  delete: number;
  bytesUp: number;
  bytesDown: number;
}

/** A file on this machine to store as an object (see Backend.putFile). */
export interface LocalFile {
  path: string;
  size: number;
  /** The SHA-256 of its bytes, hex (a pack's id: known without reading the file again). */
  sha256: string;
  /** Its MD5, base64, when the writer hashed it (see Backend.putFileMd5); else the backend reads it. */
  md5?: string;
}

export interface Backend {
  /** Where this backend points, safe to print (never contains credentials). */
  readonly location: string;
  /** Stores an object. Objects are immutable: callers never rewrite a key with other bytes. */
  put(key: string, body: Uint8Array): Promise<void>;
  /**
   * Optional: stores an object from a local file without holding it in memory whole (a local
   * folder links or copies it, S3 streams it). The file stays the caller's, unchanged: it is not
   * moved, and the caller removes it. Use `putFile()` from storage/put-file.ts, which reads the
   * file into memory and calls `put` for backends without it.
   */
  putFile?(key: string, file: LocalFile): Promise<void>;
  /**
   * True when `putFile` sends the file's MD5 (S3's Content-MD5): a caller that writes the file can
   * hash it as it goes and pass `md5`, which saves the backend a read of the whole file.
   */
  readonly putFileMd5?: boolean;
  /** Reads an object, or a byte range of it. Throws ObjectNotFoundError when absent. */
  get(key: string, range?: ByteRange): Promise<Uint8Array>;
  /** Size of an object, or undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; removing an absent object is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Optional: removes many objects in as few requests as the store allows (S3 DeleteObjects, up to
   * 1,000 keys a request). Absent objects are not an error. Use `deleteMany()` from
   * storage/delete.ts, which falls back to single deletes for backends without it.
   */
  deleteMany?(keys: readonly string[]): Promise<void>;
  /**
   * Optional: the leftovers of writes that never finished under `prefix` (the local backend's
   * temporary files of a process killed mid-write), to remove with `delete(key)`. Stores that
   * write an object whole or not at all (S3, B2) have none and leave this out.
   */
  partialWrites?(prefix: string): AsyncIterable<PartialWrite>;
  /**
   * Optional: problems with the store's configuration that this backend can detect and that
   * `check` should print as warnings (e.g. a B2 bucket that keeps hidden versions forever).
   */
  diagnose?(): Promise<string[]>;
  /** Requests made so far through this backend. */
  counts(): RequestCounts;
  close(): Promise<void>;
}

export function emptyCounts(): RequestCounts {
  return { put: 0, get: 0, head: 0, list: 0, delete: 0, bytesUp: 0, bytesDown: 0 };
}

/**
 * Request counts as B2 bills them: class A (uploads, deletes; free), class B (downloads and HEAD),
 * class C (listings). The authorize call and the lifecycle check (one class C each) are not counted.
 */
export function b2TransactionClasses(counts: RequestCounts): { classA: number; classB: number; classC: number } {
  return { classA: counts.put + counts.delete, classB: counts.get + counts.head, classC: counts.list };
}
