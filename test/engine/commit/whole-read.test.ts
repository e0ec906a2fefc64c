import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { WholeFileReader } from "../../../src/engine/commit/whole-read.ts";
import { useScratch } from "../../helpers/scratch.ts";

describe("WholeFileReader", () => {
  const scratch = useScratch();

  it("reads each file whole into one reused buffer, growing it for a larger file", async () => {
    const dir = await scratch.dir("whole-read");
    const small = path.join(dir, "small");
    const large = path.join(dir, "large");
    await fs.writeFile(small, "first file");
    await fs.writeFile(large, Buffer.alloc(300_000, 7));
    const reader = new WholeFileReader();
    const a = reader.read(small, 10);
    expect(a.toString()).toBe("first file");
    const b = reader.read(large, 300_000);
    expect(b).toEqual(Buffer.alloc(300_000, 7));
    const c = reader.read(small, 10);
    expect(c.toString()).toBe("first file");
    // The buffer is reused: a view handed out earlier now shows the later file's bytes.
    expect(c.buffer).toBe(b.buffer);
    expect(b.subarray(0, 10).toString()).toBe("first file");
  });

  it("a file that grew since its stat comes back one byte longer than the stat, not whole", async () => {
    const dir = await scratch.dir("whole-read");
    const file = path.join(dir, "grew");
    await fs.writeFile(file, Buffer.alloc(5000, 1));
    const read = new WholeFileReader().read(file, 1000);
    expect(read.byteLength).toBe(1001);
  });

  it("a file that shrank comes back at its size now; an empty file as empty", async () => {
    const dir = await scratch.dir("whole-read");
    const file = path.join(dir, "shrank");
    await fs.writeFile(file, "abc");
    const reader = new WholeFileReader();
    expect(reader.read(file, 1000).toString()).toBe("abc");
    await fs.writeFile(file, "");
    expect(reader.read(file, 0).byteLength).toBe(0);
  });

  it("does not follow a symlink put where the file was, and names a missing file", async () => {
    const dir = await scratch.dir("whole-read");
    await fs.writeFile(path.join(dir, "target"), "secret");
    await fs.symlink(path.join(dir, "target"), path.join(dir, "link"));
    const reader = new WholeFileReader();
    expect(() => reader.read(path.join(dir, "link"), 6)).toThrow(/ELOOP/);
    expect(() => reader.read(path.join(dir, "gone"), 6)).toThrow(path.join(dir, "gone"));
  });
});
