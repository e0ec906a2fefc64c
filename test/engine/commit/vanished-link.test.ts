// A symlink removed between the walk and its read is left out with a warning; the commit goes on
// (seen in a gateway: OpenClaw deleted its plugin load copy under tmp/ during a commit, and the
// whole commit failed with ENOENT from readlink).
import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Warning } from "../../../src/lib.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("a symlink that vanishes during a commit", () => {
  const scratch = useScratch();

  it("is a warning, and everything else is stored", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    fs.writeFileSync(path.join(src, "a-file"), "kept");
    fs.symlinkSync("a-file", path.join(src, "b-link"));
    fs.writeFileSync(path.join(src, "c-file"), "kept too");
    const warnings: Warning[] = [];
    const { snapshot } = await t.repo.commit(src, {
      progress: {
        warn: (w) => warnings.push(w),
        // Reported as the first file is read, after the walk has seen the link.
        progress: (p) => {
          if (p.path === "a-file") fs.rmSync(path.join(src, "b-link"), { force: true });
        },
      },
    });
    expect(warnings.map((w) => [w.path, w.message])).toEqual([["b-link", "not stored: the symlink vanished during the commit (ENOENT)"]]);
    const out = await scratch.dir("out");
    await t.repo.checkout(snapshot.id, path.join(out, "t"));
    expect(fs.readdirSync(path.join(out, "t")).sort()).toEqual(["a-file", "c-file"]);
  });
});
