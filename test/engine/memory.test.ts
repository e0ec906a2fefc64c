import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytesFrom, prng, tempDir } from "../helpers/tree.ts";

const CHILD = fileURLToPath(new URL("./memory.child.ts", import.meta.url));

/** Peak RSS of a commit and a checkout of one file of `mb` MiB, each in a fresh process. */
async function peaks(mb: number, dirs: string[]): Promise<{ commitMb: number; checkoutMb: number }> {
  const base = await tempDir(`mem${mb}`);
  dirs.push(base);
  const src = path.join(base, "src");
  await fs.mkdir(src);
  const handle = await fs.open(path.join(src, "big.bin"), "w");
  const rand = prng(mb);
  for (let i = 0; i < mb; i += 16) await handle.write(randomBytesFrom(rand, 16 * 2 ** 20));
  await handle.close();
  const res = spawnSync(process.execPath, [CHILD, src, base], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(res.stderr);
  return JSON.parse(res.stdout) as { commitMb: number; checkoutMb: number };
}

describe("memory stays bounded (invariant 6)", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it("committing and restoring a file six times larger does not raise peak RSS with it", async () => {
    const small = await peaks(64, dirs);
    const large = await peaks(384, dirs);
    // 320 MiB more data; the pipeline's buffers are fixed, so the peak moves by far less.
    expect(large.commitMb - small.commitMb).toBeLessThan(80);
    expect(large.checkoutMb - small.checkoutMb).toBeLessThan(80);
    expect(large.commitMb).toBeLessThan(450);
    expect(large.checkoutMb).toBeLessThan(450);
  });
});
