import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../../src/engine/repository.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../../helpers/repo.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("packs written at once by a commit", () => {
  const scratch = useScratch();

  it("a local folder gets one pack write at a time (two pack buffers), and the snapshot restores", async () => {
    const d = await scratch.dir("uploads");
    const src = path.join(d, "data");
    await fs.mkdir(src, { recursive: true });
    const rand = prng(11);
    // 6 MiB of incompressible files in 64 KiB packs: about 90 pack writes.
    for (let i = 0; i < 24; i++) await fs.writeFile(path.join(src, `f${i}`), randomBytesFrom(rand, 256 * 1024));
    const repo = await Repository.init(path.join(d, "repo"), { passphrase: PASSPHRASE, cacheDir: path.join(d, "cache"), scrypt: FAST_SCRYPT, packSize: 64 * 1024 });
    // Watch the real backend's pack writes (each made slow, so that overlapping ones would show).
    const put = LocalBackend.prototype.put;
    let inFlight = 0;
    let most = 0;
    let packs = 0;
    LocalBackend.prototype.put = async function (this: LocalBackend, key: string, body: Uint8Array) {
      if (!key.startsWith("data/")) return put.call(this, key, body);
      packs++;
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return await put.call(this, key, body);
      } finally {
        inFlight--;
      }
    };
    try {
      await repo.commit(src);
    } finally {
      LocalBackend.prototype.put = put;
    }
    expect(packs).toBeGreaterThan(40);
    expect(most).toBe(1);
    const out = path.join(d, "out");
    await repo.checkout("latest", out);
    for (let i = 0; i < 24; i++) expect((await fs.readFile(path.join(out, `f${i}`))).equals(await fs.readFile(path.join(src, `f${i}`)))).toBe(true);
    await repo.close();
  });
});
