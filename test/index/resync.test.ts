import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ConcurrentPruneError, LockedError } from "../../src/errors.ts";
import type { Backend } from "../../src/storage/backend.ts";
import type { Repository } from "../../src/engine/repository.ts";
import { prng, randomBytesFrom } from "../helpers/tree.ts";
import { useScratch } from "../helpers/scratch.ts";

/**
 * The real backend, with `race` run (and awaited) before the reads of manifests it picks: what a
 * prune on another machine does between the listing that named a manifest and the read of it.
 * A sync reads several manifests at once; the races run one after another, as prunes do.
 */
function racingBackend(inner: Backend, race: (key: string) => Promise<void> | void): Backend {
  let turn: Promise<void> = Promise.resolve();
  return {
    location: inner.location,
    put: (key, body) => inner.put(key, body),
    async get(key, range) {
      if (key.startsWith("index/")) {
        const mine = turn.then(() => race(key));
        turn = mine.catch(() => {});
        await mine;
      }
      return inner.get(key, range);
    },
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    counts: () => inner.counts(),
    close: () => inner.close(),
  };
}

describe("a command racing a prune", () => {
  const scratch = useScratch();

  /** A repository with three snapshots of different content, so each forget gives prune work. */
  async function threeSnapshots() {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await fs.writeFile(path.join(src, "data.bin"), randomBytesFrom(prng(i + 1), 200_000));
      ids.push((await t.repo.commit(src)).snapshot.id);
    }
    return { t, src, ids };
  }

  it("a manifest deleted by a prune between listing and reading: the index is synced again, the open and the commit succeed", async () => {
    const { t, src, ids } = await threeSnapshots();
    let raced = false;
    const opened: Repository = await t.reopen({
      cacheDir: await scratch.dir("cache"),
      wrapBackend: (b) =>
        racingBackend(b, async () => {
          if (raced) return;
          raced = true;
          await t.repo.forget([ids[0]!]);
          await t.repo.prune();
        }),
    });
    expect(raced).toBe(true);
    expect((await opened.log()).map((s) => s.id)).toEqual(ids.slice(1));
    await fs.writeFile(path.join(src, "more.bin"), randomBytesFrom(prng(9), 100_000));
    await opened.commit(src);
    expect((await opened.check({ readData: true })).errors).toEqual([]);
  });

  it("deleted again on the second try: a ConcurrentPruneError (exit 9) saying so, not a missing object", async () => {
    const { t, ids } = await threeSnapshots();
    let races = 0;
    const open = t.reopen({
      cacheDir: await scratch.dir("cache"),
      wrapBackend: (b) =>
        racingBackend(b, async () => {
          if (races >= 2) return;
          await t.repo.forget([ids[races++]!]);
          await t.repo.prune();
        }),
    });
    const err = await open.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrentPruneError);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as ConcurrentPruneError).exitCode).toBe(9);
    expect((err as Error).message).toMatch(/^index\/[0-9a-f]{64} was deleted in file:\/\/.* while this command read it: a prune or forget ran at the same time/);
  });
});
