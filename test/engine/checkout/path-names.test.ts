// Invariant 10, "what a commit accepts, a checkout restores": every name this system allows goes
// through commit, ls, check and checkout unchanged; a name that cannot be stored is reported by
// commit, never stored to make the snapshot unrestorable later.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as fs from "node:fs/promises";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { linkTargetProblem, listingPathProblem } from "../../../src/engine/path-rule.ts";
import { describeTree } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";
import type { Repository } from "../../../src/engine/repository.ts";

/** Commits `src`, then proves the snapshot lists, checks and restores to the same tree. */
async function roundTrip(repo: Repository, src: string, out: string): Promise<void> {
  const { snapshot, warnings } = await repo.commit(src);
  expect(warnings).toEqual([]);
  const listed = (await repo.ls(snapshot.id)).map((e) => e.path).sort();
  const onDisk = Object.keys(await describeTree(src)).sort();
  expect(listed).toEqual(onDisk);
  expect((await repo.check()).errors).toEqual([]);
  await repo.checkout(snapshot.id, out, { safetySnapshot: false });
  expect(await describeTree(out)).toEqual(await describeTree(src));
}

/** A file name legal on POSIX: 1 to 255 bytes, no "/" or NUL, not "." or "..". */
const posixName = fc
  .string({ unit: fc.oneof(fc.constantFrom("\\", ":", ".", " ", "\n", "\t", "*", "?", "~", "-", "é", "日", "😀", "\u202e"), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), fc.integer({ min: 1, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c))), minLength: 1, maxLength: 40 })
  .filter((n) => !n.includes("/") && !n.includes("\0") && n !== "." && n !== ".." && Buffer.byteLength(n) <= 255 && !/[\uD800-\uDFFF]/.test(n.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, "")));

describe("one path rule for commit and checkout (invariant 10)", () => {
  const scratch = useScratch();

  it("names with a backslash, a drive-letter colon and other odd characters round-trip", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const names = ["a\\b", "a:b.txt", "C:\\windows", "\\\\server\\share", "..foo", "...", "trailing.", " lead", "new\nline", "tab\there", "é日😀", "-dash", "x".repeat(255)];
    for (const n of names) await fs.writeFile(path.join(src, n), `content of ${n}`);
    await fs.mkdir(path.join(src, "d:\\ir"));
    await fs.writeFile(path.join(src, "d:\\ir", "in\\side"), "nested");
    await fs.symlink("..foo", path.join(src, "link-to-dotdotfoo"));
    await fs.symlink("a:b.txt", path.join(src, "link-to-colon"));
    const out = path.join(await scratch.dir("dst"), "out");
    await roundTrip(t.repo, src, out);
  });

  it("any legal name round-trips (fast-check)", async () => {
    const t = await scratch.repo();
    const base = await scratch.dir("names");
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(posixName, { minLength: 1, maxLength: 25, selector: (n) => n.normalize("NFC") }), async (names) => {
        const src = path.join(base, `src-${run}`);
        const out = path.join(base, `out-${run++}`);
        await fs.mkdir(src);
        for (const [i, n] of names.entries()) {
          if (i % 5 === 4) {
            await fs.mkdir(path.join(src, n));
            await fs.writeFile(path.join(src, n, n), n);
          } else {
            await fs.writeFile(path.join(src, n), n);
          }
        }
        await roundTrip(t.repo, src, out);
      }),
      { numRuns: 6, seed: 14 },
    );
  });

  it("the rule accepts every legal name and refuses what would leave the target", () => {
    fc.assert(fc.property(fc.array(posixName, { minLength: 1, maxLength: 4 }), (segments) => listingPathProblem(segments.join("/")) === undefined), { numRuns: 2000, seed: 10 });
    for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/", "./a", "a/.", "nul\0byte"]) expect(listingPathProblem(bad), bad).toBeDefined();
    expect(linkTargetProblem("a/link", "../b")).toBeUndefined();
    expect(linkTargetProblem("link", "..foo")).toBeUndefined();
    for (const bad of ["../x", "a/../../x", "/etc", ""]) expect(linkTargetProblem("link", bad), bad).toBeDefined();
  });

  it("a name that is not valid UTF-8 is reported by commit and the rest of the snapshot restores", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "fine.txt"), "fine");
    writeFileSync(Buffer.concat([Buffer.from(`${src}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from(".txt")]), "latin-1 name");
    const { snapshot, warnings } = await t.repo.commit(src);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.path).toMatch(/^bad-/);
    expect(warnings[0]!.message).toContain("not valid UTF-8");
    const out = path.join(await scratch.dir("dst"), "out");
    await t.repo.checkout(snapshot.id, out, { safetySnapshot: false });
    expect(await fs.readdir(out)).toEqual(["fine.txt"]);
  });
});
