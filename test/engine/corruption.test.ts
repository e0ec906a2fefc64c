import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { IntegrityError } from "../../src/errors.ts";
import { makeRandomTree, tempDir } from "../helpers/tree.ts";
import { flipByte, newRepo, objectKeys, type TestRepo } from "../helpers/repo.ts";
import { allTargets } from "../helpers/targets.ts";

/** Every file under dir with its bytes, to prove nothing corrupted was written out. */
async function contents(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), (await fs.readFile(path.join(e.parentPath, e.name))).toString("base64"));
  }
  return out;
}

describe.each(allTargets())("one flipped byte in any object, on $name", (target) => {
  let t: TestRepo;
  let snapshotId: string;
  const dirs: string[] = [];
  beforeAll(() => target.start());
  afterAll(() => target.stop());
  beforeEach(async () => {
    t = await newRepo({ target });
    const src = await tempDir("src");
    dirs.push(src);
    await makeRandomTree(src, 31, { files: 20 });
    snapshotId = (await t.repo.commit(src)).snapshot.id;
    await t.repo.close();
  });
  afterEach(async () => {
    await t.cleanup();
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });

  const freshCache = async () => ({ cacheDir: await tempDir("cache") });

  it.each([
    ["a pack (blob data)", "data/", () => 100],
    ["a pack manifest", "index/", (n: number) => Math.floor(n / 2)],
    ["a snapshot record", "snapshots/", (n: number) => Math.floor(n / 2)],
  ])("%s: checkout fails naming the object and writes no corrupted content", async (_label, prefix, at) => {
    const victim = (await objectKeys(t.raw, prefix))[0]!;
    await flipByte(t.raw, victim, at);
    const dst = path.join(await tempDir("dst"), "out");
    dirs.push(path.dirname(dst));
    const err = await (async () => {
      const repo = await t.reopen(await freshCache());
      await repo.checkout(snapshotId, dst);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(victim);
    expect(await contents(dst)).toEqual(new Map());
    expect((await fs.readdir(path.dirname(dst))).filter((n) => n !== "out")).toEqual([]);
  });

  it("a key file: opening fails naming the key file", async () => {
    const victim = (await objectKeys(t.raw, "keys/"))[0]!;
    await flipByte(t.raw, victim, (n) => Math.floor(n / 2));
    const err = await t.reopen(await freshCache()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(victim);
  });

  it.each([
    ["blob data", () => 50],
    ["its header", (n: number) => n - 10],
    ["its trailer", (n: number) => n - 1],
  ])("check --read-data reports a pack damaged in %s by name", async (_label, at) => {
    const victim = (await objectKeys(t.raw, "data/"))[0]!;
    await flipByte(t.raw, victim, at);
    const repo = await t.reopen(await freshCache());
    const result = await repo.check({ readData: true });
    expect(result.ok).toBe(false);
    expect(result.errors.join("\n")).toContain(victim);
  });
});
