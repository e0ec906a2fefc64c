import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytesFrom, prng, tempDir } from "../helpers/tree.ts";

const CHILD = fileURLToPath(new URL("./memory.child.ts", import.meta.url));

type Peaks = { commitMb: number; checkoutMb: number };

/**
 * Peak RSS of a commit and a checkout of one file of `mb` MiB, each in a fresh process, the lower
 * of two runs: the same run's peak moves by up to 50 MB from one run to the next (when the
 * collector and the worker threads happen to run), more than the growth this test looks for.
 */
async function peaks(mb: number, dirs: string[]): Promise<Peaks> {
  const base = await tempDir(`mem${mb}`);
  dirs.push(base);
  const src = path.join(base, "src");
  await fs.mkdir(src);
  const handle = await fs.open(path.join(src, "big.bin"), "w");
  const rand = prng(mb);
  for (let i = 0; i < mb; i += 16) await handle.write(randomBytesFrom(rand, 16 * 2 ** 20));
  await handle.close();
  const runs: Peaks[] = [];
  for (let run = 0; run < 2; run++) {
    const out = path.join(base, `run${run}`);
    await fs.mkdir(out);
    const res = spawnSync(process.execPath, [CHILD, src, out], { encoding: "utf8" });
    if (res.status !== 0) throw new Error(res.stderr);
    runs.push(JSON.parse(res.stdout) as Peaks);
  }
  return { commitMb: Math.min(...runs.map((r) => r.commitMb)), checkoutMb: Math.min(...runs.map((r) => r.checkoutMb)) };
}

describe("memory stays bounded (invariant 6)", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  it("committing and restoring a file six times larger does not raise peak RSS with it", async () => {
    const small = await peaks(64, dirs);
    const large = await peaks(384, dirs);
    // 320 MiB more data: memory that grew with the file would add at least that much. The
    // pipeline's buffers are fixed, but a longer run also lets more dead buffers build up before
    // V8 collects them (it waits for 64 MB of new external memory per isolate, and a commit has
    // two: the main thread and the codec worker), so the bound leaves room for that.
    expect(large.commitMb - small.commitMb).toBeLessThan(150);
    expect(large.checkoutMb - small.checkoutMb).toBeLessThan(150);
    expect(large.commitMb).toBeLessThan(450);
    expect(large.checkoutMb).toBeLessThan(450);
  });
});
