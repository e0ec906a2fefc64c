import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { PASSPHRASE } from "../../helpers/repo.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { makeRandomTree } from "../../helpers/tree.ts";
import { StorageError } from "../../../src/errors.ts";
import type { Warning } from "../../../src/engine/types.ts";
import { useScratch } from "../../helpers/scratch.ts";

const CLI = fileURLToPath(new URL("../../../src/cli/main.ts", import.meta.url));
const SIZE = 8 * 1024 * 1024;

describe("files that change or cannot be read during a commit", () => {
  const scratch = useScratch();

  it("a file rewritten while it is read is stored as one whole version or reported, never torn", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    const file = path.join(src, "busy.bin");
    await fs.writeFile(file, Buffer.alloc(SIZE, 0));
    await fs.writeFile(path.join(src, "calm.txt"), "unchanging");
    // Another process rewrites the file in place, each version one repeated byte value.
    const writer = spawn(process.execPath, ["-e", `
      const fs = require("fs");
      const fd = fs.openSync(${JSON.stringify(file)}, "r+");
      let v = 1;
      for (;;) { fs.writeSync(fd, Buffer.alloc(${SIZE}, v), 0, ${SIZE}, 0); v = (v % 250) + 1; }
    `]);
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (let round = 0; round < 3; round++) {
        const { snapshot, warnings } = await t.repo.commit(src);
        const listed = (await t.repo.ls(snapshot.id)).map((e) => e.path);
        expect(listed).toContain("calm.txt");
        if (!listed.includes("busy.bin")) {
          expect(warnings.map((w) => w.path)).toEqual(["busy.bin"]);
          expect(warnings[0]!.message).toMatch(/kept changing/);
          continue;
        }
        const dst = path.join(await scratch.dir("dst"), "out");
        await t.repo.checkout(snapshot.id, dst, { paths: ["busy.bin"] });
        const bytes = await fs.readFile(path.join(dst, "busy.bin"));
        expect(bytes.length).toBe(SIZE);
        expect(bytes.every((b) => b === bytes[0])).toBe(true);
      }
    } finally {
      writer.kill("SIGKILL");
    }
  });

  it("a storage failure part-way fails the commit; no file after it is reported as unreadable", async () => {
    const t = await scratch.repo({ packSize: 64 * 1024 });
    const src = await scratch.dir("src");
    await makeRandomTree(src, 5, { files: 40, maxSize: 200_000 });
    // Every upload after the lock object (the first pack on) fails for good, as a lost connection would after the retries.
    const faulty = await t.reopen({ wrapBackend: (b) => faultyBackend(b, { failPutFrom: 2 }) });
    const warned: Warning[] = [];
    await expect(faulty.commit(src, { progress: { warn: (w) => warned.push(w) } })).rejects.toThrow(StorageError);
    expect(warned).toEqual([]);
    const fresh = await t.reopen({ cacheDir: await scratch.dir("cache") });
    expect(await fresh.log()).toEqual([]);
  });

  it("an unreadable file is reported by path; the commit stores the rest and says so (exit 12)", async () => {
    const base = await scratch.dir("unreadable");
    await fs.chmod(base, 0o777);
    const src = path.join(base, "src");
    await fs.mkdir(path.join(src, "private"), { recursive: true });
    await fs.writeFile(path.join(src, "ok.txt"), "fine");
    await fs.writeFile(path.join(src, "private", "secret.txt"), "no");
    await fs.chmod(path.join(src, "private", "secret.txt"), 0o000);
    const repoDir = path.join(base, "repo");
    const env = { ...process.env, CLAWBACK_PASSPHRASE: PASSPHRASE, HOME: base };
    // Root reads everything, so run the CLI as an unprivileged user when the tests run as root,
    // with a copy of node it can execute (node may live under root's own, closed, home).
    const root = process.getuid?.() === 0;
    const asUser = root ? { uid: 65534, gid: 65534 } : {};
    let node = process.execPath;
    if (root) {
      await fs.chown(src, 65534, 65534);
      node = path.join(base, "node");
      await fs.copyFile(process.execPath, node);
      await fs.chmod(node, 0o755);
    }
    const run = (...args: string[]) => spawnSync(node, [CLI, ...args, "--repo", repoDir, "--cache-dir", path.join(base, "cache")], { env, encoding: "utf8", ...asUser });

    expect(run("init").status).toBe(0);
    const commit = run("commit", src, "--json");
    expect(commit.status).toBe(12);
    expect(commit.stderr).toContain("private/secret.txt");
    const result = JSON.parse(commit.stdout) as { snapshot: { id: string }; warnings: { path: string; message: string }[] };
    expect(result.warnings.map((w) => w.path)).toEqual(["private/secret.txt"]);
    const ls = JSON.parse(run("ls", result.snapshot.id, "--json").stdout) as { path: string }[];
    expect(ls.map((e) => e.path)).toEqual(["ok.txt", "private"]);
  });
});
