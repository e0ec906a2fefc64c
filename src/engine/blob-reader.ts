import { IntegrityError, ObjectNotFoundError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { decodeBlob } from "../repo/blob.ts";
import { packKey } from "../repo/layout.ts";
import type { IndexCache, BlobLocation } from "../index/cache.ts";

/** Reads single blobs by id: one range request each, verified before it is returned. */
export class BlobReader {
  private readonly backend: Backend;
  private readonly keys: RepoKeys;
  private readonly cache: IndexCache;

  constructor(backend: Backend, keys: RepoKeys, cache: IndexCache) {
    this.backend = backend;
    this.keys = keys;
    this.cache = cache;
  }

  locate(id: string): BlobLocation {
    const loc = this.cache.blob(id);
    if (!loc) throw new ObjectNotFoundError(`blob ${id}`, "the repository index (no pack holds it)");
    return loc;
  }

  async read(id: string): Promise<Buffer> {
    const loc = this.locate(id);
    const key = packKey(loc.pack);
    const sealed = await this.backend.get(key, { offset: loc.offset, length: loc.length });
    if (sealed.byteLength !== loc.length) throw new IntegrityError(key, `short read of blob ${id.slice(0, 16)}…`);
    return decodeBlob(this.keys, id, sealed, key);
  }
}
