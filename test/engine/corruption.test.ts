import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { IntegrityError } from "../../src/errors.ts";
import { Repository } from "../../src/engine/repository.ts";
import { makeRandomTree, tempDir } from "../helpers/tree.ts";
import { newRepo, PASSPHRASE, type TestRepo } from "../helpers/repo.ts";

async function objects(repoDir: string, folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(repoDir, folder), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(path.relative(repoDir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function flipByte(file: string, at: (size: number) => number): Promise<void> {
  const buf = await fs.readFile(file);
  const i = at(buf.length);
  buf[i] = buf[i]! ^ 0x40;
  await fs.writeFile(file, buf);
}

/** Every file under dir with its bytes, to prove nothing corrupted was written out. */
async function contents(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), (await fs.readFile(path.join(e.parentPath, e.name))).toString("base64"));
  }
  return out;
}

describe("one flipped byte in any object", () => {
  let t: TestRepo;
  let src: string;
  let snapshotId: string;
  const dirs: string[] = [];

  beforeEach(async () => {
    t = await newRepo();
    src = await tempDir("src");
    dirs.push(src);
    await makeRandomTree(src, 31, { files: 20 });
    snapshotId = (await t.repo.commit(src)).snapshot.id;
    await t.repo.close();
  });
  afterEach(async () => {
    await t.cleanup();
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });

  const open = async () => Repository.open(t.url, { passphrase: PASSPHRASE, cacheDir: await tempDir("cache") });

  it.each([
    ["a pack (blob data)", "data", (n: number) => 100],
    ["a pack manifest", "index", (n: number) => Math.floor(n / 2)],
    ["a snapshot record", "snapshots", (n: number) => Math.floor(n / 2)],
  ])("%s: checkout fails naming the object and writes no corrupted content", async (_label, folder, at) => {
    const victim = (await objects(t.url, folder))[0]!;
    await flipByte(path.join(t.url, victim), at);
    const dst = path.join(await tempDir("dst"), "out");
    dirs.push(path.dirname(dst));
    const err = await (async () => {
      const repo = await open();
      try {
        await repo.checkout(snapshotId, dst);
      } finally {
        await repo.close();
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).message).toContain(victim);
    expect(await contents(dst)).toEqual(new Map());
    expect((await fs.readdir(path.dirname(dst))).filter((n) => n !== "out")).toEqual([]);
  });

  it("a key file: opening fails naming the key file", async () => {
    const victim = (await objects(t.url, "keys"))[0]!;
    await flipByte(path.join(t.url, victim), (n) => Math.floor(n / 2));
    const err = await open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toContain(victim);
  });

  it.each([
    ["blob data", () => 50],
    ["its header", (n: number) => n - 10],
    ["its trailer", (n: number) => n - 1],
  ])("check --read-data reports a pack damaged in %s by name", async (_label, at) => {
    const victim = (await objects(t.url, "data"))[0]!;
    await flipByte(path.join(t.url, victim), at);
    const repo = await open();
    try {
      const result = await repo.check({ readData: true });
      expect(result.ok).toBe(false);
      expect(result.errors.join("\n")).toContain(victim);
    } finally {
      await repo.close();
    }
  });
});
