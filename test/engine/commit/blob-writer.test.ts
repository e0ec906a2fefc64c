import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { chunkId, deriveKeys } from "../../../src/crypto/keys.ts";
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
import { writerParts } from "../../helpers/writer-parts.ts";

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

describe("blob writer, deltas on the codec worker", () => {
  const scratch = useScratch();

  it("seals blobs offered a base on the worker; those that became deltas name their base in the pack, are counted, and read back", async () => {
    let offeredOnWorker = 0;
    const { keys, backend, cache, folder, codec, readBack, close } = await writerParts(await scratch.dir("writer"), 1, (real) => ({
      ...real,
      encodeBatch: (input, items, spare) => {
        offeredOnWorker += items.filter((i) => i.base).length;
        return real.encodeBatch!(input, items, spare);
      },
    }));
    try {
      // The bases: 64 groups of 32 KiB, stored whole first.
      const rand = prng(11);
      const olds = Array.from({ length: 64 }, () => randomBytesFrom(rand, 32 * 1024));
      const first = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder, { inlineFirstBytes: 0 });
      const baseIds: string[] = [];
      for (const old of olds) baseIds.push(await first.add(BlobType.data, old));
      cache.addManifest("first", await first.flush());

      // Their next versions: most with a few bytes changed (deltas), every eighth all new (stored whole).
      const news = olds.map((old, i) => {
        const next = i % 8 === 7 ? randomBytesFrom(rand, old.byteLength) : Buffer.from(old);
        if (i % 8 !== 7) next.writeUInt32LE(i, (i * 97) % (old.byteLength - 4));
        return next;
      });
      const second = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder, { inlineFirstBytes: 0 });
      const ids: string[] = [];
      for (const [i, next] of news.entries()) ids.push(await second.add(BlobType.data, next, undefined, { id: baseIds[i]!, data: olds[i]! }));
      await second.encoded();
      expect(second.stats.addedDeltas).toBe(56);
      const packs = await second.flush();
      expect(offeredOnWorker).toBe(64);
      const entries = packs.flatMap((p) => p.blobs);
      const withBase = entries.filter((e) => e.base !== undefined);
      expect(withBase).toHaveLength(56);
      for (const e of withBase) expect(e.base).toBe(baseIds[ids.indexOf(e.id)]);

      cache.addManifest("second", packs);
      (await readBack(ids)).forEach((plain, i) => expect(plain.equals(news[i]!)).toBe(true));
    } finally {
      await close();
    }
  });

  it("lets the event loop turn every few milliseconds while blobs are added, though nothing it does waits for I/O", async () => {
    const dir = await scratch.dir("turns");
    const keys = deriveKeys(randomBytes(32));
    const cache = new IndexCache(path.join(dir, "cache", "index.sqlite"));
    // Sealed on this thread into one pack that never fills: no write, no worker, nothing to wait for.
    const codec = createCodec(keys, 0);
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    const folder = await PackFolder.make(path.join(dir, "cache"));
    try {
      const writer = new BlobWriter(new LocalBackend(path.join(dir, "repo")), keys, cache, codec, 16 * 1024 * 1024, folder);
      const rand = prng(3);
      const chunks = Array.from({ length: 300 }, () => Buffer.from("compressible text, ".repeat(1700).slice(0, 32 * 1024 - 16) + randomBytesFrom(rand, 8).toString("hex")));
      setImmediate(tick);
      const started = performance.now();
      for (const chunk of chunks) await writer.add(BlobType.data, chunk);
      const elapsed = performance.now() - started;
      ticking = false;
      // Without the turns, pack writes and the worker's batches waited until the writer had to wait.
      expect(turns).toBeGreaterThanOrEqual(Math.max(1, Math.floor(elapsed / 20)));
      await writer.flush();
    } finally {
      await codec.close();
      cache.close();
      await folder.remove();
    }
  });
  it("addAbsent takes the caller's word that the index lacks a blob, yet still recognises one it took itself", async () => {
    const { keys, backend, cache, folder, codec, readBack, close } = await writerParts(await scratch.dir("absent"), 0);
    try {
      const rand = prng(12);
      const [a, b] = [randomBytesFrom(rand, 32 * 1024), randomBytesFrom(rand, 32 * 1024)];
      const first = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder);
      const idA = await first.add(BlobType.data, a);
      cache.addManifest("first", await first.flush());

      const writer = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder);
      const asked: string[] = [];
      const hasBlob = cache.hasBlob.bind(cache);
      cache.hasBlob = (id) => (asked.push(id), hasBlob(id));
      expect(writer.has(idA)).toBe(true);
      expect(await writer.add(BlobType.data, a)).toBe(idA);
      expect(asked).toEqual([idA, idA]);
      const idB = chunkId(keys, b);
      expect(await writer.addAbsent(BlobType.data, b, idB)).toBe(idB);
      expect(await writer.addAbsent(BlobType.data, b, idB)).toBe(idB);
      expect(asked).toEqual([idA, idA]);
      const packs = await writer.flush();
      expect(writer.stats.addedChunks).toBe(1);
      expect(packs.flatMap((p) => p.blobs.map((blob) => blob.id))).toEqual([idB]);
      cache.addManifest("second", packs);
      expect((await readBack([idB]))[0]!.equals(b)).toBe(true);
    } finally {
      await close();
    }
  });

  it("starts the codec's worker once the files announced to it pass its inline share, not before", async () => {
    let warmed = 0;
    const { keys, backend, cache, folder, codec, readBack, close } = await writerParts(await scratch.dir("warm"), 1, (real) => ({ ...real, warm: () => (warmed++, real.warm!()) }));
    try {
      const writer = new BlobWriter(backend, keys, cache, codec, 1024 * 1024, folder, { inlineFirstBytes: 4 * 1024 * 1024 });
      writer.expect(3 * 1024 * 1024);
      expect(warmed).toBe(0);
      writer.expect(1024 * 1024);
      expect(warmed).toBe(1);
      // Everything added still goes where it went: the worker takes over after the inline share.
      const rand = prng(11);
      const chunks = Array.from({ length: 160 }, () => randomBytesFrom(rand, 32 * 1024));
      const ids: string[] = [];
      for (const chunk of chunks) ids.push(await writer.add(BlobType.data, chunk));
      cache.addManifest("test", await writer.flush());
      (await readBack(ids)).forEach((plain, i) => expect(plain.equals(chunks[i]!)).toBe(true));
    } finally {
      await close();
    }
  });

  it("keeps at most two batches at the worker for whole blobs, and up to four once blobs come with delta bases", async () => {
    let out = 0;
    let most = 0;
    const { keys, backend, cache, folder, codec, readBack, close } = await writerParts(await scratch.dir("in-flight"), 1, (real) => ({
      ...real,
      encodeBatch: (input, items, spare) => {
        most = Math.max(most, ++out);
        return real.encodeBatch!(input, items, spare).finally(() => out--);
      },
    }));
    try {
      const rand = prng(13);
      const whole = new BlobWriter(backend, keys, cache, codec, 4 * 1024 * 1024, folder, { inlineFirstBytes: 0 });
      const olds = Array.from({ length: 160 }, () => randomBytesFrom(rand, 32 * 1024));
      const baseIds: string[] = [];
      for (const chunk of olds) baseIds.push(await whole.add(BlobType.data, chunk));
      cache.addManifest("whole", await whole.flush());
      expect(most).toBeGreaterThanOrEqual(1);
      expect(most).toBeLessThanOrEqual(2);

      // Deltas take the worker longer than this thread takes to stage them: more than two wait.
      most = 0;
      const deltas = new BlobWriter(backend, keys, cache, codec, 4 * 1024 * 1024, folder, { inlineFirstBytes: 0 });
      const ids: string[] = [];
      const news = olds.map((old, i) => {
        const next = Buffer.from(old);
        next.writeUInt32LE(i, 100);
        return next;
      });
      for (const [i, next] of news.entries()) ids.push(await deltas.add(BlobType.data, next, undefined, { id: baseIds[i]!, data: olds[i]! }));
      cache.addManifest("deltas", await deltas.flush());
      expect(most).toBeGreaterThan(2);
      expect(most).toBeLessThanOrEqual(4);
      (await readBack(ids)).forEach((plain, i) => expect(plain.equals(news[i]!)).toBe(true));
    } finally {
      await close();
    }
  });
});
