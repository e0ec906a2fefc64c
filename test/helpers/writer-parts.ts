import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { deriveKeys } from "../../src/crypto/keys.ts";
import { LocalBackend } from "../../src/storage/local.ts";
import { IndexCache } from "../../src/index/cache.ts";
import { BlobReader } from "../../src/engine/blob-reader.ts";
import { PackFolder } from "../../src/engine/commit/pack-file.ts";
import { createCodec, type BlobCodec } from "../../src/engine/codec/codec-pool.ts";

/**
 * What a BlobWriter works with, in `dir`: keys, a local repository, an index cache, a pack folder,
 * and a codec with `threads` workers (0: inline) as `wrap` presents it (to count what reaches it);
 * `readBack` reads blobs by id once their packs are indexed; `close` removes and closes it all.
 */
export async function writerParts(dir: string, threads: number, wrap: (codec: BlobCodec) => BlobCodec = (codec) => codec) {
  const keys = deriveKeys(randomBytes(32));
  const backend = new LocalBackend(path.join(dir, "repo"));
  const cache = new IndexCache(path.join(dir, "cache", "index.sqlite"));
  const folder = await PackFolder.make(path.join(dir, "cache"));
  const real = createCodec(keys, { encode: threads, decode: 0 });
  return {
    keys,
    backend,
    cache,
    folder,
    codec: wrap(real),
    readBack: (ids: readonly string[]) => new BlobReader(backend, keys, cache).readMany(ids),
    close: async () => {
      await folder.remove();
      await real.close();
      cache.close();
    },
  };
}
