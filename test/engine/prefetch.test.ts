import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Prefetcher } from "../../src/engine/prefetch.ts";
import type { WalkEntry } from "../../src/engine/walk.ts";
import { useScratch } from "../helpers/scratch.ts";

describe("Prefetcher", () => {
  const scratch = useScratch();

  async function files(n: number, size: number): Promise<WalkEntry[]> {
    const dir = await scratch.dir("prefetch");
    const out: WalkEntry[] = [];
    for (let i = 0; i < n; i++) {
      const absPath = path.join(dir, `f${i}`);
      await fs.writeFile(absPath, Buffer.alloc(size, i % 251));
      out.push({ relPath: `f${i}`, absPath, stat: await fs.lstat(absPath, { bigint: true }) });
    }
    return out;
  }

  it("hands each wanted file's bytes to its turn, reading ahead, and skips unwanted ones", async () => {
    const items = await files(40, 1000);
    const pre = new Prefetcher(items, (item) => item.relPath !== "f7");
    for (const [i, item] of items.entries()) {
      const read = pre.take(i);
      if (item.relPath === "f7") expect(read).toBeUndefined();
      else expect(await read).toEqual(Buffer.alloc(1000, i % 251));
    }
  });

  it("keeps reading ahead when turns are passed over (their reads are let go)", async () => {
    const items = await files(60, 1024 * 1024); // 16 ahead would be 16 MiB: the 8 MiB byte cap binds
    const pre = new Prefetcher(items, () => true);
    // Take only every third file, as a commit does when the others turn out unchanged: the window
    // must keep moving (the passed-over reads released), so reads stay in flight ahead.
    for (let i = 0; i < items.length - 12; i += 3) {
      expect((await pre.take(i))!.length).toBe(1024 * 1024);
      expect(pre.aheadOf(i)).toBeGreaterThanOrEqual(6);
    }
  });
});
