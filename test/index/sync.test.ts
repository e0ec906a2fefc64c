import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { heldReads, observedBackend } from "../helpers/observed-backend.ts";
import { useScratch } from "../helpers/scratch.ts";

describe("syncing the index from the bucket", () => {
  const scratch = useScratch();

  it("an empty cache loads the manifests and snapshot records 16 at a time, and has every snapshot", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      await fs.writeFile(path.join(src, "day.txt"), `day ${i}\n`);
      ids.push((await t.repo.commit(src)).snapshot.id);
    }
    // Each read of a manifest or a record held 20 ms, as a distant store would; counted in flight.
    const held = heldReads(20, (key) => ["index", "snapshots"].find((kind) => key.startsWith(`${kind}/`)));
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache"), wrapBackend: (b) => observedBackend(b, held.hooks) });
    expect([held.seen.get("index")?.most, held.seen.get("snapshots")?.most]).toEqual([16, 16]);
    expect(new Set((await fresh.log()).map((s) => s.id))).toEqual(new Set(ids));
    expect((await fresh.check({ readData: true })).errors).toEqual([]);
  });
});
