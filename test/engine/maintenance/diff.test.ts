import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { PathError } from "../../../src/errors.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("diff against a folder", () => {
  const scratch = useScratch();

  it("walks the folder as a commit would (excludes, sidecars) and names a missing folder or a file", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "kept.md"), "one");
    await fs.writeFile(path.join(src, "gone.md"), "two");
    await fs.writeFile(path.join(src, "debug.log"), "excluded");
    const { snapshot } = await t.repo.commit(src, { excludes: ["*.log"] });

    await fs.writeFile(path.join(src, "kept.md"), "one, edited");
    await fs.rm(path.join(src, "gone.md"));
    await fs.writeFile(path.join(src, "new.md"), "three");
    await fs.writeFile(path.join(src, "other.log"), "still excluded");
    const changes = await t.repo.diff(snapshot.id, { dir: src });
    expect(changes.map((c) => [c.path, c.kind])).toEqual([
      ["gone.md", "removed"],
      ["kept.md", "modified"],
      ["new.md", "added"],
    ]);

    const missing = path.join(src, "no such folder");
    await expect(t.repo.diff(snapshot.id, { dir: missing })).rejects.toThrow(PathError);
    await expect(t.repo.diff(snapshot.id, { dir: missing })).rejects.toThrow(`${missing}: folder does not exist`);
    const file = path.join(src, "kept.md");
    await expect(t.repo.diff(snapshot.id, { dir: file })).rejects.toThrow(`${file}: not a folder`);
  });
});
