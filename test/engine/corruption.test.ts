import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { IntegrityError } from "../../src/errors.ts";
import { chunkId, deriveKeys, parseKeyFile, unwrapMasterKey } from "../../src/crypto/index.ts";
import { BlobType, decodeBlob, encodeBlob } from "../../src/repo/blob.ts";
import { readPackHeader } from "../../src/repo/pack.ts";
import { idOf } from "../../src/repo/layout.ts";
import { makeRandomTree, tempDir } from "../helpers/tree.ts";
import { buildOpenClawLikeDb, editOpenClawLikeDb } from "../helpers/sqlite-writer.ts";
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

  it("a pack manifest: skipped with a warning naming it; the snapshot restores from the pack headers (invariant 12)", async () => {
    const victim = (await objectKeys(t.raw, "index/"))[0]!;
    await flipByte(t.raw, victim, (n) => Math.floor(n / 2));
    const dst = path.join(await tempDir("dst"), "out");
    dirs.push(path.dirname(dst));
    const warnings: string[] = [];
    const repo = await t.reopen({ ...(await freshCache()), progress: { warn: (w) => warnings.push(`${w.path}: ${w.message}`) } });
    expect(warnings.join("\n")).toContain(victim);
    await repo.checkout(snapshotId, dst);
    expect((await contents(dst)).size).toBeGreaterThan(0);
    expect((await repo.check()).damaged).toContain(victim);
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

  /** The repository's keys, as only the passphrase holder has them. */
  async function keysOf(t: TestRepo) {
    const keyKey = (await objectKeys(t.raw, "keys/"))[0]!;
    return deriveKeys((await unwrapMasterKey(parseKeyFile(keyKey, await t.raw.get(keyKey)), PASSPHRASE))!);
  }

  /** A checkout of the snapshot into a non-empty target, from a fresh cache, fails at the read-back naming `file`; the target is untouched. */
  async function expectReadBackFailure(t: TestRepo, snapshotId: string, file: string): Promise<void> {
    const dst = await tempDir("dst");
    const cacheDir = await tempDir("cache");
    dirs.push(dst, cacheDir);
    await fs.writeFile(path.join(dst, "kept.txt"), "the target as it was");
    const repo = await t.reopen({ cacheDir });
    const err = await repo.checkout(snapshotId, dst, { safetySnapshot: false }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).object).toBe(file);
    expect((err as Error).message).toContain("do not match the snapshot");
    expect(await fs.readdir(dst)).toEqual(["kept.txt"]);
    expect((await fs.readdir(path.dirname(dst))).filter((n) => n.startsWith(`.${path.basename(dst)}.clawback-`))).toEqual([]);
  }

  it("(an encoder bug, or a forger holding the key) fails the checkout at the read-back, naming the file; the target is untouched", async () => {
    const t = await newRepo();
    try {
      const src = await tempDir("src");
      dirs.push(src);
      // Under the chunker's minimum chunk size: one chunk. Incompressible: stored raw, so a forgery of the same length fits in its place.
      const real = randomBytes(12 * 1024);
      await fs.writeFile(path.join(src, "notes.bin"), real);
      const { snapshot } = await t.repo.commit(src);
      await t.repo.close();

      const keys = await keysOf(t);
      const id = chunkId(keys, real);
      // Other content, sealed and authenticated under the real chunk's id, put in its place.
      const packKey = (await objectKeys(t.raw, "data/"))[0]!;
      const pack = Buffer.from(await t.raw.get(packKey));
      const entry = readPackHeader(keys, idOf(packKey), pack, packKey).find((e) => e.id === id)!;
      const forged = encodeBlob(keys, BlobType.data, randomBytes(real.length), id).sealed;
      expect(forged.length).toBe(entry.length);
      forged.copy(pack, entry.offset);
      await t.raw.put(packKey, pack);
      await expectReadBackFailure(t, snapshot.id, "notes.bin");
    } finally {
      await t.cleanup();
    }
  });

  it("a delta blob (decoded against its base, without its id re-derived) fails the checkout at the read-back too", async () => {
    const t = await newRepo();
    try {
      const src = await tempDir("src");
      dirs.push(src);
      const db = path.join(src, "openclaw-agent.sqlite");
      buildOpenClawLikeDb(db, 2 * 1024 * 1024);
      await t.repo.commit(src);
      editOpenClawLikeDb(db, "update-random", 0.01, 5);
      const { snapshot } = await t.repo.commit(src);
      await t.repo.close();

      const keys = await keysOf(t);
      const packs = new Map<string, { key: string; bytes: Buffer; entries: ReturnType<typeof readPackHeader> }>();
      for (const key of await objectKeys(t.raw, "data/")) {
        const bytes = Buffer.from(await t.raw.get(key));
        packs.set(key, { key, bytes, entries: readPackHeader(keys, idOf(key), bytes, key) });
      }
      const all = [...packs.values()].flatMap((p) => p.entries.map((e) => ({ pack: p, e })));
      const delta = all.find(({ e }) => e.base !== undefined)!;
      const base = all.find(({ e }) => e.id === delta.e.base)!;
      const sealedOf = ({ pack, e }: (typeof all)[number]) => pack.bytes.subarray(e.offset, e.offset + e.length);
      const basePlain = decodeBlob(keys, base.e.id, sealedOf(base), base.pack.key);
      const real = decodeBlob(keys, delta.e.id, sealedOf(delta), delta.pack.key, { baseOf: (id) => (id === base.e.id ? basePlain : undefined) });

      // Other content, sealed as a delta of the same base under the real id, of the same sealed
      // length so that it fits in the real one's place: one byte changed, tried at positions
      // until the compressed delta comes out as long as the real one.
      let forged: Buffer | undefined;
      for (let at = 0; at < real.length && !forged; at += 97) {
        const content = Buffer.from(real);
        content[at] = content[at]! ^ 0x5a;
        const blob = encodeBlob(keys, BlobType.data, content, delta.e.id, { id: base.e.id, data: basePlain });
        if (blob.base === base.e.id && blob.sealed.length === delta.e.length) forged = blob.sealed;
      }
      expect(forged).toBeDefined();
      forged!.copy(delta.pack.bytes, delta.e.offset);
      await t.raw.put(delta.pack.key, delta.pack.bytes);
      await expectReadBackFailure(t, snapshot.id, "openclaw-agent.sqlite");
    } finally {
      await t.cleanup();
    }
  });
});
