// Hostile input (issue 14, "must show" 4, second half; DESIGN.md invariant 10): repositories that
// hold listings no commit would write — `..`, absolute paths, links pointing out of the target
// and files written through them — built by the test with the repository's real key through the
// repository's own encoding functions (test/helpers/craft-snapshot.ts). Checkout must refuse each
// one with a typed error and write nothing outside the target (and leave the target as it was).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { UnsafePathError } from "../../src/errors.ts";
import type { RepoKeys } from "../../src/crypto/keys.ts";
import { newRepo, PASSPHRASE, type TestRepo } from "../helpers/repo.ts";
import { describeTree, tempDir } from "../helpers/tree.ts";
import { craftSnapshot, repoKeys, type CraftedEntry } from "../helpers/craft-snapshot.ts";

interface Sandbox {
  root: string;
  target: string;
  outside: string;
}

/** Each case gets a sandbox: a target with a file in it, and a folder beside it that must stay untouched. */
type Case = { name: string; entries: (s: Sandbox) => CraftedEntry[] };

const CASES: Case[] = [
  { name: "a file at ../", entries: () => [{ path: "../escaped-parent.txt", type: "file", content: "pwned" }] },
  { name: "a file at a/../../", entries: () => [{ path: "a", type: "dir" }, { path: "a/../../escaped-deep.txt", type: "file", content: "pwned" }] },
  { name: "a file at an absolute path", entries: (s) => [{ path: path.join(s.outside, "escaped-absolute.txt"), type: "file", content: "pwned" }] },
  {
    name: "a relative link out of the target, then a file through it",
    entries: () => [
      { path: "link", type: "symlink", target: "../outside" },
      { path: "link/escaped-through-link.txt", type: "file", content: "pwned" },
    ],
  },
  {
    name: "an absolute link out of the target, then a file through it",
    entries: (s) => [
      { path: "abs", type: "symlink", target: s.outside },
      { path: "abs/escaped-through-abs.txt", type: "file", content: "pwned" },
    ],
  },
  {
    name: "a link inside the target, then a file through it (it would land wherever the link points at restore time)",
    entries: () => [
      { path: "real", type: "dir" },
      { path: "alias", type: "symlink", target: "real" },
      { path: "alias/through-inner-link.txt", type: "file", content: "pwned" },
    ],
  },
  {
    name: "a chain of links that is harmless by its names but escapes on disk",
    entries: () => [
      { path: "a", type: "dir" },
      { path: "a/b", type: "symlink", target: ".." },
      { path: "a/b/c", type: "symlink", target: ".." },
      { path: "c/escaped-chain.txt", type: "file", content: "pwned" },
    ],
  },
];

describe("checkout of crafted repositories (invariant 10)", () => {
  let t: TestRepo;
  let keys: RepoKeys;

  beforeAll(async () => {
    t = await newRepo();
    keys = await repoKeys(t.raw, PASSPHRASE);
  });
  afterAll(() => t.cleanup());

  for (const c of CASES) {
    it(`refuses ${c.name} and writes nothing outside the target`, async () => {
      const root = await tempDir("crafted");
      const s: Sandbox = { root, target: path.join(root, "target"), outside: path.join(root, "outside") };
      await fs.mkdir(s.target);
      await fs.mkdir(s.outside);
      await fs.writeFile(path.join(s.target, "keep.txt"), "the target's own file");
      await fs.writeFile(path.join(s.outside, "sentinel.txt"), "beside the target");
      const entries = c.entries(s);
      const id = await craftSnapshot(t.raw, keys, entries);
      const before = await describeTree(root);
      const repo = await t.reopen();

      const err = await repo.checkout(id, s.target, { safetySnapshot: false }).then(() => undefined, (e: unknown) => e);
      // Refused by the path rule before anything is written, not by an accident of write order.
      expect(err, "the checkout must refuse the snapshot").toBeInstanceOf(UnsafePathError);
      expect(await describeTree(root), "nothing changed in or beside the target").toEqual(before);
      for (const e of entries) {
        const name = path.basename(e.path);
        if (!name.startsWith("escaped")) continue;
        // Wherever the name could have landed: beside the target, beside the sandbox, in `outside`.
        for (const dir of [root, path.dirname(root), s.outside, path.dirname(s.target)]) {
          await expect(fs.access(path.join(dir, name)), `${name} in ${dir}`).rejects.toThrow();
        }
      }
    });
  }
});
