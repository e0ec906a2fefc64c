// Smaller checkout defects of issue 14: the root folder's mode, sparse files, names near the
// system's limits, and snapshot ids given in upper case.

import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import { openSync, closeSync, ftruncateSync, writeSync } from "node:fs";
import * as path from "node:path";
import { PathTooLongError } from "../../../src/errors.ts";
import { describeTree } from "../../helpers/tree.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("checkout details", () => {
  const scratch = useScratch();

  it("the restored root folder gets the snapshot's mode, not the staging folder's 0700", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "f.txt"), "x");
    await fs.chmod(src, 0o751);
    const { snapshot } = await t.repo.commit(src);
    const parent = await scratch.dir("dst");
    const fresh = path.join(parent, "fresh");
    await t.repo.checkout(snapshot.id, fresh);
    expect((await fs.stat(fresh)).mode & 0o7777).toBe(0o751);
    // Over an existing folder of another mode too.
    const existing = path.join(parent, "existing");
    await fs.mkdir(existing, { mode: 0o700 });
    await fs.writeFile(path.join(existing, "old.txt"), "old");
    await t.repo.checkout(snapshot.id, existing, { safetySnapshot: false });
    expect((await fs.stat(existing)).mode & 0o7777).toBe(0o751);
  });

  it("a sparse file is restored sparse: zero chunks stay holes", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const file = path.join(src, "sparse.img");
    const size = 64 * 1024 * 1024;
    const fd = openSync(file, "w");
    writeSync(fd, Buffer.from("head of the file"), 0, 16, 0);
    writeSync(fd, Buffer.alloc(100_000, 7), 0, 100_000, 30 * 1024 * 1024);
    ftruncateSync(fd, size); // ends in a hole: the last chunk is zeros
    closeSync(fd);
    const before = await fs.stat(file);
    expect(before.blocks * 512).toBeLessThan(size / 8); // the file system under test makes holes at all
    const { snapshot } = await t.repo.commit(src);
    const out = path.join(await scratch.dir("dst"), "out");
    await t.repo.checkout(snapshot.id, out);
    const restored = await fs.stat(path.join(out, "sparse.img"));
    expect(restored.size).toBe(size);
    expect(restored.blocks * 512).toBeLessThan(size / 8);
    expect(await describeTree(out)).toEqual(await describeTree(src));
  });

  it("a target whose name is near NAME_MAX restores; one over it, or a path over PATH_MAX, is a PathTooLongError naming it", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "f.txt"), "x");
    const { snapshot } = await t.repo.commit(src);
    const parent = await scratch.dir("dst");
    const long = path.join(parent, "n".repeat(250));
    await t.repo.checkout(snapshot.id, long);
    expect(await fs.readFile(path.join(long, "f.txt"), "utf8")).toBe("x");
    // And again over it (the swap's holder names must fit as well).
    await fs.writeFile(path.join(long, "g.txt"), "old");
    await t.repo.checkout(snapshot.id, long, { safetySnapshot: false });
    expect(await fs.readdir(long)).toEqual(["f.txt"]);
    expect((await fs.readdir(parent)).sort()).toEqual(["n".repeat(250)]);

    const tooLong = path.join(parent, "m".repeat(256));
    const err = await t.repo.checkout(snapshot.id, tooLong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PathTooLongError);
    expect((err as PathTooLongError).path).toBe(tooLong);
    const deep = path.join(parent, ...Array.from({ length: 20 }, () => "d".repeat(220)));
    const err2 = await t.repo.checkout(snapshot.id, deep).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(PathTooLongError);
    expect((err2 as PathTooLongError).exitCode).toBe(10);
    expect((await fs.readdir(parent)).sort()).toEqual(["n".repeat(250)]);
  });

  it("a snapshot id prefix in upper case names the snapshot", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "f.txt"), "x");
    const { snapshot } = await t.repo.commit(src);
    expect((await t.repo.show(snapshot.id.slice(0, 12).toUpperCase())).id).toBe(snapshot.id);
    expect((await t.repo.ls(snapshot.id.toUpperCase())).map((e) => e.path)).toEqual(["f.txt"]);
  });
});
