import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../../src/engine/repository.ts";
import { LocalBackend } from "../../../src/storage/local.ts";
import type { LocalFile } from "../../../src/storage/backend.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../../helpers/repo.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("packs written at once by a commit", () => {
  const scratch = useScratch();

  it("a local folder gets one pack write at a time (two pack files), and the snapshot restores", async () => {
    const d = await scratch.dir("uploads");
    const src = path.join(d, "data");
    await fs.mkdir(src, { recursive: true });
    const rand = prng(11);
    // 6 MiB of incompressible files in 64 KiB packs: about 90 pack writes.
    for (let i = 0; i < 24; i++) await fs.writeFile(path.join(src, `f${i}`), randomBytesFrom(rand, 256 * 1024));
    const repo = await Repository.init(path.join(d, "repo"), { passphrase: PASSPHRASE, cacheDir: path.join(d, "cache"), scrypt: FAST_SCRYPT, packSize: 64 * 1024 });
    // Watch the real backend's pack writes (each made slow, so that overlapping ones would show).
    const putFile = LocalBackend.prototype.putFile;
    let inFlight = 0;
    let most = 0;
    let packs = 0;
    LocalBackend.prototype.putFile = async function (this: LocalBackend, key: string, file: LocalFile) {
      packs++;
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return await putFile.call(this, key, file);
      } finally {
        inFlight--;
      }
    };
    try {
      await repo.commit(src);
    } finally {
      LocalBackend.prototype.putFile = putFile;
    }
    expect(packs).toBeGreaterThan(40);
    expect(most).toBe(1);
    const out = path.join(d, "out");
    await repo.checkout("latest", out);
    for (let i = 0; i < 24; i++) expect((await fs.readFile(path.join(out, `f${i}`))).equals(await fs.readFile(path.join(src, `f${i}`)))).toBe(true);
    await repo.close();
  });
});
