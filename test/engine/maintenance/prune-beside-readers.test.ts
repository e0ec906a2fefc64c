// A prune on another machine while a checkout or a `check --read-data` reads the packs it would
// delete or rewrite. The reader holds a shared lock, so the prune is refused (exit 9) and the
// reader finishes as if the prune had not been tried; a prune that holds the repository first
// refuses the reader before it writes anything.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { LockedError, StorageAuthError } from "../../../src/errors.ts";
import { DATA_PREFIX, LOCKS_PREFIX } from "../../../src/repo/layout.ts";
import type { Backend } from "../../../src/storage/backend.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { objectKeys, type TestRepo } from "../../helpers/repo.ts";
import { describeTree, prng, randomBytesFrom } from "../../helpers/tree.ts";

/** `inner` with some of its methods replaced. */
function withMethods(inner: Backend, methods: Partial<Backend>): Backend {
  return new Proxy(inner, {
    get(target, name, receiver) {
      if (name in methods) return methods[name as keyof Backend];
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Runs `meanwhile` once, when the wrapped backend is first asked for a pack's bytes. */
function onFirstPackRead(inner: Backend, meanwhile: () => Promise<void>): Backend {
  let done = false;
  return withMethods(inner, {
    async get(key, range) {
      if (!done && key.startsWith(DATA_PREFIX)) {
        done = true;
        await meanwhile();
      }
      return inner.get(key, range);
    },
  });
}

/**
 * Two snapshots; the first, forgotten, holds a large file alone: a prune would rewrite the pack
 * it shares with what the second needs, and delete the old pack.
 */
async function prunable(t: TestRepo, src: string): Promise<string> {
  await fs.writeFile(path.join(src, "big.bin"), randomBytesFrom(prng(3), 3 * 1024 * 1024));
  await fs.writeFile(path.join(src, "kept.bin"), randomBytesFrom(prng(4), 256 * 1024));
  const first = await t.repo.commit(src);
  await fs.rm(path.join(src, "big.bin"));
  const second = await t.repo.commit(src);
  await t.repo.forget([first.snapshot.id]);
  return second.snapshot.id;
}

describe("a prune beside a checkout or a check", () => {
  const scratch = useScratch();

  it("is refused while a checkout reads the packs it would rewrite; the checkout restores", async () => {
    const t = await scratch.repo({ packSize: 8 * 1024 * 1024 });
    const src = await scratch.dir("src");
    const snapshot = await prunable(t, src);
    const elsewhere = await t.reopen({ cacheDir: await scratch.dir("cache-b") });
    let refused: unknown;
    const reader = await t.reopen({ wrapBackend: (b) => onFirstPackRead(b, () => elsewhere.prune().then(() => {}, (err: unknown) => void (refused = err))) });
    const out = path.join(await scratch.dir("out"), "restored");
    await reader.checkout(snapshot, out);
    expect(refused).toBeInstanceOf(LockedError);
    expect(String(refused)).toMatch(/locked by checkout/);
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect(await objectKeys(t.raw, LOCKS_PREFIX)).toEqual([]);
    // Once the checkout is done the prune runs, and the snapshot still restores.
    const pruned = await elsewhere.prune();
    expect(pruned.packsRepacked + pruned.packsDeleted).toBeGreaterThan(0);
    const again = path.join(await scratch.dir("out"), "again");
    await reader.checkout(snapshot, again);
    expect(await describeTree(again)).toEqual(await describeTree(src));
  });

  it("is refused while check --read-data reads the packs; check finds nothing wrong", async () => {
    const t = await scratch.repo({ packSize: 8 * 1024 * 1024 });
    await prunable(t, await scratch.dir("src"));
    const elsewhere = await t.reopen({ cacheDir: await scratch.dir("cache-b") });
    let refused: unknown;
    const reader = await t.reopen({ wrapBackend: (b) => onFirstPackRead(b, () => elsewhere.prune().then(() => {}, (err: unknown) => void (refused = err))) });
    const result = await reader.check({ readData: true });
    expect(refused).toBeInstanceOf(LockedError);
    expect(String(refused)).toMatch(/locked by check/);
    expect(result.errors).toEqual([]);
    expect(await objectKeys(t.raw, LOCKS_PREFIX)).toEqual([]);
  });

  it("that holds the repository first refuses a checkout before it writes anything", async () => {
    const t = await scratch.repo({ packSize: 8 * 1024 * 1024 });
    const src = await scratch.dir("src");
    const snapshot = await prunable(t, src);
    const parent = await scratch.dir("target");
    const target = path.join(parent, "restored");
    let checkoutError: unknown;
    // The prune's first deletion is where it holds its exclusive lock: the checkout starts then.
    const pruner = await t.reopen({
      cacheDir: await scratch.dir("cache-b"),
      wrapBackend: (b) =>
        withMethods(b, {
          async delete(key) {
            if (!key.startsWith(LOCKS_PREFIX) && checkoutError === undefined) checkoutError = await t.repo.checkout(snapshot, target).then(() => "restored", (err: unknown) => err);
            return b.delete(key);
          },
        }),
    });
    await pruner.prune();
    expect(checkoutError).toBeInstanceOf(LockedError);
    expect(String(checkoutError)).toMatch(/locked by prune/);
    expect(await fs.readdir(parent)).toEqual([]);
    // After the prune, the same checkout restores.
    await t.repo.checkout(snapshot, target);
    expect(await describeTree(target)).toEqual(await describeTree(src));
  });

  it("a checkout with credentials that cannot write runs without a lock, and says so", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "a.txt"), "hello");
    const { snapshot } = await t.repo.commit(src);
    const warnings: string[] = [];
    const readOnly = await t.reopen({
      wrapBackend: (b) =>
        withMethods(b, {
          put: async (key) => {
            throw new StorageAuthError(`access denied writing ${key}`, { operation: "put", key });
          },
        }),
    });
    const out = path.join(await scratch.dir("out"), "restored");
    await readOnly.checkout(snapshot.id, out, { progress: { warn: (w) => warnings.push(w.message) } });
    expect(await describeTree(out)).toEqual(await describeTree(src));
    expect(warnings.join("\n")).toMatch(/without a lock/);
  });

  // A local repository this process may not write (here: its locks folder made immutable, which
  // stops root too; a read-only mount or permissions do the same for a user).
  it.skipIf(!canMakeImmutable())("a checkout and check of a local repository whose locks folder cannot be written run without a lock, and say so", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "a.txt"), "hello");
    const { snapshot } = await t.repo.commit(src);
    const locks = path.join(t.url, "locks");
    await fs.mkdir(locks, { recursive: true });
    execFileSync("chattr", ["+i", locks]);
    try {
      const warnings: string[] = [];
      const out = path.join(await scratch.dir("out"), "restored");
      await t.repo.checkout(snapshot.id, out, { progress: { warn: (w) => warnings.push(w.message) } });
      expect(await describeTree(out)).toEqual(await describeTree(src));
      expect(warnings.join("\n")).toMatch(/running without a lock: these credentials may not write/);
      const checked = await t.repo.check({ readData: true });
      expect(checked.errors).toEqual([]);
      expect(checked.warnings.join("\n")).toMatch(/running without a lock/);
    } finally {
      execFileSync("chattr", ["-i", locks]);
    }
  });
});

/** Whether this machine lets the test make a folder immutable (root on ext4, chattr installed). */
function canMakeImmutable(): boolean {
  const dir = mkdtempSync(path.join(tmpdir(), "clawback-immutable-"));
  try {
    execFileSync("chattr", ["+i", dir], { stdio: "ignore" });
    execFileSync("chattr", ["-i", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
