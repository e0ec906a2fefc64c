import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { ObjectNotFoundError, StorageError } from "../errors.ts";
import { emptyCounts, type Backend, type ByteRange, type ObjectInfo, type RequestCounts } from "./backend.ts";

/**
 * A repository in a local folder. Writes go to a temporary file that is fsynced and renamed into
 * place, so a crash never leaves a partial object under its final name.
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
    const target = this.file(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
    const handle = await fs.open(tmp, "w", 0o600);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
    this.stats.put++;
    this.stats.bytesUp += body.byteLength;
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
      const handle = await fs.open(file, "r");
      try {
        // Only the bytes read are returned.
        const buf = range.into && range.into.byteLength >= range.length ? range.into : Buffer.allocUnsafe(range.length);
        const { bytesRead } = await handle.read(buf, 0, range.length, range.offset);
        this.stats.bytesDown += bytesRead;
        return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
      } finally {
        await handle.close();
      }
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
    yield* this.walk(dirKey, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
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
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix) && !entry.name.includes(".tmp-")) {
        const st = await fs.stat(path.join(dir, entry.name));
        yield { key, size: st.size };
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

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}
