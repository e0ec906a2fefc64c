import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { IntegrityError } from "../../src/errors.ts";
import { chunkId, deriveKeys, parseKeyFile, unwrapMasterKey } from "../../src/crypto/index.ts";
import { BlobType, encodeBlob } from "../../src/repo/blob.ts";
import { readPackHeader } from "../../src/repo/pack.ts";
import { idOf } from "../../src/repo/layout.ts";
import { makeRandomTree, tempDir } from "../helpers/tree.ts";
import { flipByte, newRepo, objectKeys, PASSPHRASE, type TestRepo } from "../helpers/repo.ts";
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

describe("a blob whose content does not match the id it was sealed under", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });

  it("(an encoder bug, or a forger holding the key) fails the checkout at the read-back, naming the file; the target is untouched", async () => {
    const t = await newRepo();
    try {
      const src = await tempDir("src");
      const dst = await tempDir("dst");
      dirs.push(src, dst);
      // Under the chunker's minimum chunk size: one chunk. Incompressible: stored raw, so a forgery of the same length fits in its place.
      const real = randomBytes(12 * 1024);
      await fs.writeFile(path.join(src, "notes.bin"), real);
      const { snapshot } = await t.repo.commit(src);
      await t.repo.close();

      // The repository's keys, as only the passphrase holder has them.
      const keyKey = (await objectKeys(t.raw, "keys/"))[0]!;
      const keys = deriveKeys((await unwrapMasterKey(parseKeyFile(keyKey, await t.raw.get(keyKey)), PASSPHRASE))!);
      const id = chunkId(keys, real);
      // Other content, sealed and authenticated under the real chunk's id, put in its place.
      const packKey = (await objectKeys(t.raw, "data/"))[0]!;
      const pack = Buffer.from(await t.raw.get(packKey));
      const entry = readPackHeader(keys, idOf(packKey), pack, packKey).find((e) => e.id === id)!;
      const forged = encodeBlob(keys, BlobType.data, randomBytes(real.length), id).sealed;
      expect(forged.length).toBe(entry.length);
      forged.copy(pack, entry.offset);
      await t.raw.put(packKey, pack);

      await fs.writeFile(path.join(dst, "kept.txt"), "the target as it was");
      const cacheDir = await tempDir("cache");
      dirs.push(cacheDir);
      const repo = await t.reopen({ cacheDir });
      const err = await repo.checkout(snapshot.id, dst, { safetySnapshot: false }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).object).toBe("notes.bin");
      expect((err as Error).message).toContain("do not match the snapshot");
      expect(await fs.readdir(dst)).toEqual(["kept.txt"]);
      expect((await fs.readdir(path.dirname(dst))).filter((n) => n.startsWith(`.${path.basename(dst)}.clawback-`))).toEqual([]);
    } finally {
      await t.cleanup();
    }
  });
});
