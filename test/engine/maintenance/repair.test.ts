import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { IntegrityError, WrongPassphraseError } from "../../../src/errors.ts";
import { Repository } from "../../../src/engine/repository.ts";
import { createKeyFile, generateMasterKey } from "../../../src/crypto/index.ts";
import { encodeConfig, newConfig } from "../../../src/repo/config.ts";
import { keyFileKey, snapshotKey } from "../../../src/repo/layout.ts";
import { openBackend } from "../../../src/storage/open.ts";
import { describeTree, makeRandomTree } from "../../helpers/tree.ts";
import { FAST_SCRYPT, PASSPHRASE, flipByte, objectKeys } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("damage, check and repair (invariant 12)", () => {
  const scratch = useScratch();

  /** A repository with three snapshots of three folders. */
  async function threeSnapshots() {
    const t = await scratch.repo({ packSize: 32 * 1024 });
    const ids: string[] = [];
    const trees = [];
    const packs: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const src = await scratch.dir(`src${i}`);
      await makeRandomTree(src, 700 + i, { files: 10, maxSize: 40_000 });
      trees.push(await describeTree(src));
      const before = new Set(await objectKeys(t.raw, "data/"));
      ids.push((await t.repo.commit(src)).snapshot.id);
      packs.push((await objectKeys(t.raw, "data/")).filter((k) => !before.has(k)));
    }
    return { t, ids, trees, packs };
  }

  it("check lists every damaged object at once, each by name, and says so in one result", async () => {
    const { t, ids } = await threeSnapshots();
    await t.repo.close();
    const manifests = await objectKeys(t.raw, "index/");
    const packs = await objectKeys(t.raw, "data/");
    await flipByte(t.raw, snapshotKey(ids[0]!), (n) => n >> 1);
    await flipByte(t.raw, manifests[0]!, (n) => n >> 1);
    await flipByte(t.raw, packs[packs.length - 1]!, () => 40);
    const keyB = await (await t.reopen()).addKey("second passphrase");
    await flipByte(t.raw, keyFileKey(keyB), (n) => n >> 1);

    const repo = await t.reopen({ cacheDir: await scratch.dir("fresh") });
    const result = await repo.check({ readData: true });
    expect(result.ok).toBe(false);
    for (const name of [snapshotKey(ids[0]!), manifests[0]!, packs[packs.length - 1]!, keyFileKey(keyB)]) {
      expect(result.damaged).toContain(name);
      expect(result.errors.some((e) => e.includes(name))).toBe(true);
    }
  });

  it("an unreadable snapshot record is skipped with a warning; forget removes it by id prefix; prune refuses until then", async () => {
    const { t, ids, trees } = await threeSnapshots();
    await t.repo.close();
    await flipByte(t.raw, snapshotKey(ids[1]!), (n) => n >> 1);
    const warnings: string[] = [];
    const repo = await t.reopen({ cacheDir: await scratch.dir("fresh"), progress: { warn: (w) => warnings.push(w.path) } });
    expect(warnings).toEqual([snapshotKey(ids[1]!)]);
    expect((await repo.log()).map((s) => s.id)).toEqual([ids[0], ids[2]]);
    expect(repo.damaged().map((d) => d.object)).toEqual([snapshotKey(ids[1]!)]);
    // Naming it says why it cannot be restored.
    const err = await repo.checkout(ids[1]!.slice(0, 12), await scratch.dir("dst")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).object).toBe(snapshotKey(ids[1]!));
    // The others restore.
    const dst = path.join(await scratch.dir("out"), "x");
    await repo.checkout(ids[2]!, dst);
    expect(await describeTree(dst)).toEqual(trees[2]);
    // Prune cannot know what the unreadable record needs.
    await expect(repo.prune()).rejects.toThrow(new RegExp(snapshotKey(ids[1]!)));
    const forgotten = await repo.forget([ids[1]!.slice(0, 10)]);
    expect(forgotten.removed).toEqual([ids[1]]);
    expect(await objectKeys(t.raw, "snapshots/")).not.toContain(snapshotKey(ids[1]!));
    await repo.prune();
    expect((await repo.check({ readData: true })).errors).toEqual([]);
  });

  it("repair --dry-run changes nothing; repair rebuilds lost manifests from pack headers and check passes", async () => {
    const { t, ids, trees } = await threeSnapshots();
    await t.repo.close();
    const manifests = await objectKeys(t.raw, "index/");
    await t.raw.delete(manifests[1]!);
    await flipByte(t.raw, manifests[2]!, () => 5);
    const repo = await t.reopen({ cacheDir: await scratch.dir("fresh") });
    const before = await repo.check();
    expect(before.ok).toBe(false);
    expect(before.damaged).toContain(manifests[2]);

    const dry = await repo.repair({ dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.damagedManifests.map((d) => d.object)).toEqual([manifests[2]]);
    expect(dry.manifestsWritten).toHaveLength(1);
    expect(await objectKeys(t.raw, "index/")).toEqual([manifests[0], manifests[2]].sort());

    const done = await repo.repair();
    expect(done.manifestsRemoved.sort()).toEqual([manifests[0], manifests[2]].sort());
    expect(await objectKeys(t.raw, "index/")).toEqual(done.manifestsWritten);
    expect(done.incompleteSnapshots).toEqual([]);
    const after = await t.reopen({ cacheDir: await scratch.dir("after") });
    expect((await after.check({ readData: true })).errors).toEqual([]);
    for (const [i, id] of ids.entries()) {
      const dst = path.join(await scratch.dir("out"), "x");
      await after.checkout(id, dst);
      expect(await describeTree(dst)).toEqual(trees[i]);
    }
  });

  it("repair names the files of a snapshot whose pack is gone, and leaves the snapshot as it is", async () => {
    const { t, ids, trees, packs } = await threeSnapshots();
    await t.repo.close();
    await t.raw.delete(packs[1]![0]!);
    const repo = await t.reopen({ cacheDir: await scratch.dir("fresh") });
    const result = await repo.repair();
    expect(result.incompleteSnapshots.map((s) => s.snapshot)).toEqual([ids[1]]);
    const hit = result.incompleteSnapshots[0]!;
    expect(hit.files.length + (hit.listing ? 1 : 0)).toBeGreaterThan(0);
    for (const f of hit.files) expect(Object.keys(trees[1]!)).toContain(f);
    expect(await objectKeys(t.raw, "snapshots/")).toHaveLength(3);
    // The others are whole.
    const after = await repo.check();
    expect(after.damaged).toEqual([snapshotKey(ids[1]!)]);
  });
});

describe("config is authenticated by the copy sealed in the key files", () => {
  const scratch = useScratch();

  it.each([
    ["version", (c: Record<string, unknown>) => ({ ...c, version: 1 })],
    ["chunker", (c: Record<string, unknown>) => ({ ...c, chunker: { minSize: 1024, avgSize: 4096, maxSize: 16384, normalization: 1 } })],
    ["sqliteGroupPages", (c: Record<string, unknown>) => ({ ...c, sqliteGroupPages: 3 })],
  ])("an edited %s is an IntegrityError naming config; check names it; repair writes the authentic one back", async (_field, edit) => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await makeRandomTree(src, 5, { files: 5, maxSize: 10_000 });
    await t.repo.commit(src);
    await t.repo.close();
    const original = Buffer.from(await t.raw.get("config"));
    await t.raw.put("config", Buffer.from(JSON.stringify(edit(JSON.parse(original.toString("utf8")) as Record<string, unknown>), null, 1)));

    const err = await t.reopen().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).object).toBe("config");

    const tolerant = await t.reopen({ acceptDamagedConfig: true });
    const result = await tolerant.check({ readData: true });
    expect(result.damaged).toEqual(["config"]);
    expect((await tolerant.repair()).configRestored).toBe(true);
    expect(Buffer.from(await t.raw.get("config"))).toEqual(original);
    expect((await tolerant.check()).errors).toEqual([]);
    expect((await (await t.reopen()).check({ readData: true })).errors).toEqual([]);
  });

  it("a repository whose key files predate the sealed copy still opens; check warns that config is not authenticated", async () => {
    const dir = path.join(await scratch.dir("old"), "repo");
    const backend = await openBackend(dir);
    const key = await createKeyFile(generateMasterKey(), PASSPHRASE, FAST_SCRYPT);
    await backend.put(keyFileKey(key.id), key.bytes);
    await backend.put("config", encodeConfig(newConfig({ sqliteGroupPages: 8 })));
    await backend.close();
    const repo = await Repository.open(dir, { passphrase: PASSPHRASE, cacheDir: await scratch.dir("cache") });
    try {
      const result = await repo.check();
      expect(result.ok).toBe(true);
      expect(result.warnings.join("\n")).toMatch(/config is not authenticated/);
    } finally {
      await repo.close();
    }
  });

  it("a damaged key file does not lock out another passphrase; its own passphrase is told which file is damaged", async () => {
    const t = await scratch.repo();
    const second = await t.repo.addKey("the other passphrase");
    await t.repo.close();
    const first = (await objectKeys(t.raw, "keys/")).find((k) => k !== keyFileKey(second))!;
    await flipByte(t.raw, first, (n) => n >> 1);
    const warned: string[] = [];
    const other = await t.reopen({ passphrase: "the other passphrase", progress: { warn: (w) => warned.push(w.path) } });
    expect((await other.check()).damaged).toEqual([first]);
    expect((await other.listKeys()).map((k) => keyFileKey(k.id))).toEqual([keyFileKey(second)]);
    expect(warned).toEqual([first]);
    const err = await t.reopen().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).object).toBe(first);
    await expect(t.reopen({ passphrase: "neither" })).rejects.toBeInstanceOf(IntegrityError);
    await fs.rm(path.join(t.url, first), { force: true });
    await expect(t.reopen({ passphrase: "neither" })).rejects.toBeInstanceOf(WrongPassphraseError);
  });
});
