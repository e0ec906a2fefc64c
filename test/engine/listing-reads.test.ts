import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Backend } from "../../src/storage/backend.ts";
import { useScratch } from "../helpers/scratch.ts";

describe("reading a snapshot's listing", () => {
  const scratch = useScratch();

  it("takes one range request per run of listing blobs in a pack, not one per blob", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    // 3,000 files with long names: a listing of well over 64 KiB, so several listing blobs.
    for (let d = 0; d < 30; d++) {
      const dir = path.join(src, `folder-${d}-${"x".repeat(60)}`);
      await fs.mkdir(dir);
      for (let f = 0; f < 100; f++) await fs.writeFile(path.join(dir, `file-${f}-${"y".repeat(80)}.txt`), `${d}/${f}`);
    }
    const { snapshot } = await t.repo.commit(src);
    let backend: Backend | undefined;
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache2"), wrapBackend: (b) => (backend = b) });
    const record = await fresh.show(snapshot.id);
    const before = backend!.counts().get;
    const entries = await fresh.ls(record.id);
    const gets = backend!.counts().get - before;
    expect(entries.filter((e) => e.type === "file")).toHaveLength(3000);
    // Every file's content is distinct and one chunk: the other blobs are the listing's.
    const listingBlobs = (await fresh.stats()).blobs - 3000;
    expect(listingBlobs).toBeGreaterThanOrEqual(5);
    expect(gets).toBe(1); // all in the one pack the commit wrote, side by side
  });
});
