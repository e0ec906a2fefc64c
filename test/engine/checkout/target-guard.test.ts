// Invariant 11: a checkout never destroys what it cannot put back. A target that holds, is, or lies
// inside the repository or the index cache is refused before anything is written.

import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../../src/engine/repository.ts";
import { TargetOverlapError } from "../../../src/errors.ts";
import { describeTree } from "../../helpers/tree.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("checkout target guard (invariant 11)", () => {
  const scratch = useScratch();

  /** D/data committed into D/repo (cache in D/cache, or elsewhere): the layout of the report. */
  async function layout(cacheInside: boolean) {
    const d = await scratch.dir("d");
    const cacheDir = cacheInside ? path.join(d, "cache") : await scratch.dir("cache");
    const url = path.join(d, "repo");
    const opts = { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT };
    const repo = await Repository.init(url, opts);
    await fs.mkdir(path.join(d, "data"));
    await fs.writeFile(path.join(d, "data", "f.txt"), "data");
    const { snapshot } = await repo.commit(path.join(d, "data"));
    return { d, url, cacheDir, repo, opts, snapshot };
  }

  it("refuses a target that holds the repository; nothing is written, the repository stays", async () => {
    const { d, url, repo, opts, snapshot } = await layout(false);
    try {
      const before = await describeTree(d);
      for (const target of [d, url]) {
        const err = await repo.checkout("latest", target).catch((e: unknown) => e);
        expect(err, target).toBeInstanceOf(TargetOverlapError);
        expect((err as TargetOverlapError).exitCode).toBe(10);
        expect((err as Error).message).toContain("the repository");
      }
      expect(await describeTree(d)).toEqual(before);
      expect((await repo.log()).map((s) => s.id)).toEqual([snapshot.id]); // no safety snapshot either
      const again = await Repository.open(url, opts);
      expect((await again.log()).map((s) => s.id)).toEqual([snapshot.id]);
      await again.close();
    } finally {
      await repo.close();
    }
  });

  it("refuses a target inside the repository", async () => {
    const { url, repo } = await layout(false);
    try {
      for (const target of [path.join(url, "data"), path.join(url, "new", "deeper")]) {
        const err = await repo.checkout("latest", target).catch((e: unknown) => e);
        expect(err, target).toBeInstanceOf(TargetOverlapError);
      }
      await expect(fs.stat(path.join(url, "new"))).rejects.toThrow();
    } finally {
      await repo.close();
    }
  });

  it("refuses a target that holds the index cache, or lies in it", async () => {
    const { cacheDir, repo } = await layout(true);
    try {
      for (const target of [cacheDir, path.join(cacheDir, repo.id), path.join(cacheDir, repo.id, "x")]) {
        const err = await repo.checkout("latest", target).catch((e: unknown) => e);
        expect(err, target).toBeInstanceOf(TargetOverlapError);
        expect((err as Error).message).toContain("index cache");
      }
    } finally {
      await repo.close();
    }
  });

  it("sees through symbolic links: a link to the folder holding the repository is refused too", async () => {
    const { d, repo } = await layout(false);
    try {
      const elsewhere = await scratch.dir("links");
      await fs.symlink(d, path.join(elsewhere, "alias"));
      for (const target of [path.join(elsewhere, "alias"), path.join(elsewhere, "alias", "repo", "sub")]) {
        const err = await repo.checkout("latest", target).catch((e: unknown) => e);
        expect(err, target).toBeInstanceOf(TargetOverlapError);
      }
      // A sibling of the repository is fine.
      const sibling = path.join(d, "restored");
      await repo.checkout("latest", sibling);
      expect(await fs.readFile(path.join(sibling, "f.txt"), "utf8")).toBe("data");
    } finally {
      await repo.close();
    }
  });
});
