import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { compileMatcher } from "../../../src/engine/excludes.ts";
import { isSidecarAmong } from "../../../src/engine/sqlite/sqlite-capture.ts";
import { walkTree } from "../../../src/engine/commit/walk.ts";
import type { Warning } from "../../../src/engine/types.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("walkTree", () => {
  const scratch = useScratch();

  it("keeps of each entry exactly the stat fields lstat gives, and its type", async () => {
    const root = await scratch.dir("walk");
    await fs.mkdir(path.join(root, "folder/inner"), { recursive: true });
    await fs.writeFile(path.join(root, "folder/inner/file.txt"), "some bytes");
    await fs.writeFile(path.join(root, "top.md"), "");
    await fs.chmod(path.join(root, "top.md"), 0o640);
    await fs.symlink("folder/inner/file.txt", path.join(root, "link"));
    const warnings: Warning[] = [];
    const entries = await walkTree(root, compileMatcher([]), isSidecarAmong, (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    expect(entries.map((e) => e.relPath)).toEqual(["folder", "folder/inner", "folder/inner/file.txt", "link", "top.md"]);
    for (const e of entries) {
      const st = await fs.lstat(e.absPath, { bigint: true });
      expect(e.absPath).toBe(path.join(root, e.relPath));
      expect([e.stat.mode, e.stat.size, e.stat.mtimeNs, e.stat.ctimeNs, e.stat.ino]).toEqual([st.mode, st.size, st.mtimeNs, st.ctimeNs, st.ino]);
      expect([e.stat.isFile(), e.stat.isDirectory(), e.stat.isSymbolicLink()]).toEqual([st.isFile(), st.isDirectory(), st.isSymbolicLink()]);
    }
    const kinds = Object.fromEntries(entries.map((e) => [e.relPath, e.stat.isDirectory() ? "dir" : e.stat.isSymbolicLink() ? "link" : e.stat.isFile() ? "file" : "?"]));
    expect(kinds).toEqual({ folder: "dir", "folder/inner": "dir", "folder/inner/file.txt": "file", link: "link", "top.md": "file" });
  });

  it("leaves out a database's sidecars only when the database is beside them, whatever the folder's size", async () => {
    const root = await scratch.dir("walk-sidecars");
    // Enough names around them that the lookup of a sidecar's database is a real search.
    const filler = Array.from({ length: 40 }, (_, i) => `note-${String(i).padStart(2, "0")}.md`);
    const kept = [...filler, "state.sqlite", "travel-journal", "orphan.db-wal", "Zeta.sqlite"];
    const sidecars = ["state.sqlite-wal", "state.sqlite-shm", "Zeta.sqlite-journal", "state.sqlite.lock"];
    for (const name of [...kept, ...sidecars]) await fs.writeFile(path.join(root, name), name);
    const entries = await walkTree(root, compileMatcher([]), isSidecarAmong, () => {});
    expect(entries.map((e) => e.relPath)).toEqual([...kept].sort());
  });
});
