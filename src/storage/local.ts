import { closeSync, openSync, readSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { ObjectNotFoundError, RepositoryFullError, StorageAuthError, StorageError } from "../errors.ts";
import { emptyCounts, type Backend, type ByteRange, type LocalFile, type ObjectInfo, type PartialWrite, type RequestCounts } from "./backend.ts";

/** What a temporary file's name has after its object's key: `data/ab/<id>.tmp-<random>`. */
const PARTIAL = ".tmp-";

/**
 * Range reads up to this size are made on the caller's thread: open, read and close take a few
 * microseconds each on a page-cached pack, less than three trips through the thread pool (a daily
 * commit reads its delta bases in about a thousand such ranges of 50 KB). Larger ones (a
 * checkout's 4 MiB ranges) go through the pool, where the copy overlaps the caller's work.
 */
const SYNC_RANGE_BYTES = 256 * 1024;

/**
 * A repository in a local folder. Writes go to a temporary file that is fsynced and renamed into
 * place, so a crash never leaves a partial object under its final name; the temporary files of a
 * process killed mid-write are listed by partialWrites (prune removes them, check reports them).
 */
export class LocalBackend implements Backend {
  readonly location: string;
  private readonly stats: RequestCounts = emptyCounts();

  private readonly root: string;

  constructor(root: string) {
    this.root = root;
    this.location = `file://${root}`;
  }

  private file(key: string): string {
    if (key.split("/").some((part) => part === ".." || part === "")) {
      throw new StorageError(`invalid object key ${JSON.stringify(key)}`, { operation: "key", key });
    }
    return path.join(this.root, ...key.split("/"));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.store(key, body.byteLength, async (tmp) => {
      const handle = await fs.open(tmp, "w", 0o600);
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /**
   * Stores a local file: hard-linked as the temporary file when it is on the same file system (no
   * byte is copied), copied by the kernel otherwise; fsynced and renamed into place as `put` does.
   */
  async putFile(key: string, file: LocalFile): Promise<void> {
    await this.store(key, file.size, async (tmp) => {
      try {
        await fs.link(file.path, tmp);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException)?.code;
        // Another file system, or one without hard links: a copy (copy_file_range, or a reflink).
        if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw err;
        await fs.copyFile(file.path, tmp, fs.constants.COPYFILE_EXCL);
      }
      const handle = await fs.open(tmp, "r+");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  /** Writes an object through `write` into a temporary file beside it, then renames it into place. */
  private async store(key: string, bytes: number, write: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.file(key);
    const tmp = `${target}${PARTIAL}${randomBytes(6).toString("hex")}`;
    try {
      await fs.mkdir(path.dirname(target), { recursive: true });
      await write(tmp);
      await fs.rename(tmp, target);
    } catch (err) {
      // A write that failed leaves nothing behind (a full disk most of all: its partial file would keep the space).
      await fs.rm(tmp, { force: true }).catch(() => {});
      throw this.writeError(key, err);
    }
    this.stats.put++;
    this.stats.bytesUp += bytes;
  }

  /**
   * A failed write as a StorageError naming the repository: a full disk as RepositoryFullError, a
   * folder this process may not write (permissions, a read-only mount) as StorageAuthError, as a
   * store's read-only key is (a checkout from it then runs without a lock, see acquireReadLock).
   */
  private writeError(key: string, err: unknown): StorageError {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === "ENOSPC" || code === "EDQUOT") return new RepositoryFullError(this.location, key, { cause: err });
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new StorageAuthError(`writing ${key} to ${this.location} is not allowed: ${(err as Error).message}`, { operation: "put", key, location: this.location }, { cause: err });
    return new StorageError(`writing ${key} to ${this.location} failed: ${(err as Error).message}`, { operation: "put", key, location: this.location }, { cause: err });
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.stats.get++;
    const file = this.file(key);
    try {
      if (!range) {
        const data = await fs.readFile(file);
        this.stats.bytesDown += data.byteLength;
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      }
      // Only the bytes read are returned.
      const buf = range.into && range.into.byteLength >= range.length ? range.into : Buffer.allocUnsafe(range.length);
      const bytesRead = range.length <= SYNC_RANGE_BYTES ? readRangeSync(file, buf, range) : await readRange(file, buf, range);
      this.stats.bytesDown += bytesRead;
      return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key, this.location);
      throw new StorageError(`reading ${key} from ${this.location} failed: ${(err as Error).message}`, { operation: "get", key, location: this.location }, { cause: err });
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    this.stats.head++;
    try {
      const st = await fs.stat(this.file(key));
      return { key, size: st.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.stats.list++;
    // Walk only the folders the prefix can reach, so listing "snapshots/" does not touch data/.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    for await (const { key, size } of this.walk(dirKey, prefix)) yield { key, size };
  }

  /** The temporary files of puts that never finished (a process killed mid-write). */
  async *partialWrites(prefix: string): AsyncIterable<PartialWrite> {
    const slash = prefix.lastIndexOf("/");
    yield* this.walk(slash >= 0 ? prefix.slice(0, slash) : "", prefix, true);
  }

  private async *walk(dirKey: string, prefix: string, partial = false): AsyncIterable<PartialWrite> {
    const dir = dirKey ? this.file(dirKey) : this.root;
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const entry of entries) {
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) yield* this.walk(key, prefix, partial);
      } else if (entry.isFile() && key.startsWith(prefix) && entry.name.includes(PARTIAL) === partial) {
        const st = await fs.stat(path.join(dir, entry.name)).catch(() => undefined);
        // Gone since the readdir (a put renamed it, a delete removed it): not there any more.
        if (st) yield { key, size: st.size, modifiedMs: st.mtimeMs };
      }
    }
  }

  async delete(key: string): Promise<void> {
    this.stats.delete++;
    await fs.rm(this.file(key), { force: true });
  }

  counts(): RequestCounts {
    return { ...this.stats };
  }

  async close(): Promise<void> {}
}

async function readRange(file: string, into: Uint8Array, range: ByteRange): Promise<number> {
  const handle = await fs.open(file, "r");
  try {
    return (await handle.read(into, 0, range.length, range.offset)).bytesRead;
  } finally {
    await handle.close();
  }
}

function readRangeSync(file: string, into: Uint8Array, range: ByteRange): number {
  const fd = openSync(file, "r");
  try {
    return readSync(fd, into, 0, range.length, range.offset);
  } finally {
    closeSync(fd);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}
