import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { deriveKeys } from "../../../src/crypto/keys.ts";
import { BlobType } from "../../../src/repo/blob.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { IndexCache } from "../../../src/index/cache.ts";
import { BlobReader } from "../../../src/engine/blob-reader.ts";
import { BlobWriter } from "../../../src/engine/commit/blob-writer.ts";
import { PackFolder } from "../../../src/engine/commit/pack-file.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import { observedBackend } from "../../helpers/observed-backend.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("blob writer", () => {
  const scratch = useScratch();

  it("holds at most maxUploads + 1 pack files however slow the uploads are, and every blob reads back", async () => {
    const dir = await scratch.dir("writer");
    const keys = deriveKeys(randomBytes(32));
    const folder = await PackFolder.make(path.join(dir, "cache"));
    let mostFiles = 0;
    // Slow uploads: packs fill far faster than they go, from this thread and from the worker.
    const backend = observedBackend(new LocalBackend(path.join(dir, "repo")), {
      async beforePut(key) {
        if (!key.startsWith("data/")) return;
        mostFiles = Math.max(mostFiles, fs.readdirSync(folder.path).length);
        await sleep(25);
      },
    });
    const cache = new IndexCache(path.join(dir, "cache", "index.sqlite"));
    const codec = createCodec(keys, { encode: 1, decode: 0 });
    try {
      const writer = new BlobWriter(backend, keys, cache, codec, 256 * 1024, folder, { maxUploads: 2 });
      // 12 MiB of incompressible 32 KiB chunks: the first 4 MiB are sealed on this thread, the rest
      // in batches on the worker, about 50 packs in all.
      const rand = prng(7);
      const chunks = Array.from({ length: 384 }, () => randomBytesFrom(rand, 32 * 1024));
      const ids: string[] = [];
      for (const chunk of chunks) ids.push(await writer.add(BlobType.data, chunk));
      const packs = await writer.flush();
      expect(packs.length).toBeGreaterThan(40);
      expect(mostFiles).toBeGreaterThanOrEqual(2);
      expect(mostFiles).toBeLessThanOrEqual(3);
      // Every pack file is removed once its pack is stored.
      expect(fs.readdirSync(folder.path)).toEqual([]);

      cache.addManifest("test", packs);
      const back = await new BlobReader(backend, keys, cache).readMany(ids);
      back.forEach((plain, i) => expect(plain.equals(chunks[i]!)).toBe(true));
    } finally {
      await folder.remove();
      await codec.close();
      cache.close();
    }
  });
});
