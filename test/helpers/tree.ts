import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { createCipheriv, createHash } from "node:crypto";
import { prng } from "./prng.ts";

export { prng };


/** n pseudo-random bytes determined by the generator's next value (AES-CTR keystream: fast for large n). */
export function randomBytesFrom(rand: () => number, n: number): Buffer {
  const key = createHash("sha256").update(String(rand())).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** Every folder tempDir made in this test file: test/helpers/cleanup.ts removes them after it. */
export const madeTempDirs: string[] = [];

export async function tempDir(label: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `clawback-test-${label}-`));
  madeTempDirs.push(dir);
  return dir;
}

const ODD_NAMES = ["with space.txt", "line\nbreak", "hash#tag", "what?", "100%", "naïve-日本語.md", "plus+sign", "tilde~", "quote'\"", "emoji 🦀"];

/**
 * A seeded random tree: files from 0 bytes to several max-size chunks, odd names, nested and
 * empty folders, relative symlinks, assorted modes and mtimes.
 */
export async function makeRandomTree(root: string, seed: number, opts: { files?: number; maxSize?: number } = {}): Promise<void> {
  const rand = prng(seed);
  const files = opts.files ?? 40;
  const maxSize = opts.maxSize ?? 1_200_000;
  const dirs = ["", "a", "a/b", "a/b/c", "with space", "ünï", "empty", "deep/er/and/deeper"];
  for (const d of dirs) await fs.mkdir(path.join(root, d), { recursive: true });
  const modes = [0o644, 0o600, 0o755, 0o640, 0o444];
  const made: string[] = [];
  for (let i = 0; i < files; i++) {
    const dir = dirs[Math.floor(rand() * dirs.length)]!;
    if (dir === "empty") continue;
    const name = i < ODD_NAMES.length ? ODD_NAMES[i]! : `f${i}.bin`;
    const sizeClass = rand();
    const size = sizeClass < 0.15 ? 0 : sizeClass < 0.5 ? Math.floor(rand() * 5000) : Math.floor(rand() * maxSize);
    // Mix of random and repetitive content so both compression paths run.
    const content = rand() < 0.5 ? randomBytesFrom(rand, size) : Buffer.from("clawback ".repeat(Math.ceil(size / 9)).slice(0, size));
    const file = path.join(root, dir, name);
    await fs.writeFile(file, content);
    await fs.chmod(file, modes[Math.floor(rand() * modes.length)]!);
    const t = 1_600_000_000 + Math.floor(rand() * 100_000_000) + Math.floor(rand() * 1000) / 1000;
    await fs.utimes(file, t, t);
    made.push(path.join(dir, name));
  }
  await fs.symlink("a/b", path.join(root, "link-to-dir"));
  if (made[0]) await fs.symlink(path.relative(path.join(root, "a"), path.join(root, made[0])), path.join(root, "a", "link-to-file"));
  await fs.symlink("does-not-exist", path.join(root, "dangling"));
  await fs.chmod(path.join(root, "a/b/c"), 0o700);
  for (const d of dirs.filter(Boolean)) await fs.utimes(path.join(root, d), 1_650_000_000, 1_650_000_000);
}

export interface TreeItem {
  type: "file" | "dir" | "symlink";
  mode: number;
  /**
   * Whole microseconds, as listings keep them: rounding a float mtimeMs to milliseconds instead
   * made a source at x.49988 ms (which the float shows as x.5) and its restore at x.499 ms differ.
   */
  mtimeUs?: number;
  sha256?: string;
  target?: string;
}

/** Everything a restore must reproduce, by relative path. */
export async function describeTree(root: string, opts: { dirTimes?: boolean } = {}): Promise<Record<string, TreeItem>> {
  const out: Record<string, TreeItem> = {};
  async function visit(rel: string): Promise<void> {
    for (const name of (await fs.readdir(path.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = await fs.lstat(abs, { bigint: true });
      const mtimeUs = Number(st.mtimeNs / 1000n);
      const mode = Number(st.mode) & 0o7777;
      if (st.isDirectory()) {
        out[r] = { type: "dir", mode, ...(opts.dirTimes ? { mtimeUs } : {}) };
        await visit(r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: "symlink", mode: 0, target: await fs.readlink(abs) };
      } else {
        out[r] = { type: "file", mode, mtimeUs, sha256: createHash("sha256").update(await fs.readFile(abs)).digest("hex") };
      }
    }
  }
  await visit("");
  return out;
}

export async function dirSize(root: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await fs.stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/**
 * Sets each file's times a minute back (a database's -wal too, when there is one), as if it had
 * last changed then: a file changed in the seconds before a commit is read again by the next
 * commit (racy, see isRacy), which tests that expect a second commit to read nothing must avoid.
 */
export async function settle(...files: string[]): Promise<void> {
  const past = Date.now() / 1000 - 60;
  for (const file of files) {
    await fs.utimes(file, past, past);
    await fs.utimes(`${file}-wal`, past, past).catch(() => {});
  }
}
