import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { statfsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeScratchDir } from "../../src/engine/scratch-dir.ts";
import { useScratch } from "../helpers/scratch.ts";

const shmIsTmpfs = (() => {
  try {
    return process.platform === "linux" && statfsSync("/dev/shm").type === 0x01021994;
  } catch {
    return false;
  }
})();

/** A pid no process has (one that just exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "0"]);
  return child.pid!;
}

describe("a commit's scratch folder", () => {
  const scratch = useScratch();
  const made: string[] = [];
  const savedTmpdir = process.env.TMPDIR;
  afterEach(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    for (const d of made.splice(0)) await fs.rm(d, { recursive: true, force: true });
  });
  const make = async (largest: number) => {
    const dir = await makeScratchDir(largest);
    made.push(dir);
    return dir;
  };

  it.skipIf(!shmIsTmpfs)("is in RAM (/dev/shm) when the copies fit, private to this user, named with this process", async () => {
    delete process.env.TMPDIR;
    const dir = await make(1024 * 1024);
    expect(path.dirname(dir)).toBe("/dev/shm");
    expect(path.basename(dir)).toMatch(new RegExp(`^clawback-scratch-${process.pid}-`));
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
  });

  it("is in the system's temporary folder when the copies would not fit in memory", async () => {
    delete process.env.TMPDIR;
    const dir = await make(Number.MAX_SAFE_INTEGER / 4);
    expect(path.dirname(dir)).toBe(os.tmpdir());
  });

  it("is in TMPDIR when the user names one", async () => {
    const chosen = await scratch.dir("tmpdir");
    process.env.TMPDIR = chosen;
    const dir = await make(1024);
    expect(path.dirname(dir)).toBe(chosen);
  });

  it("removes folders that dead processes left over an hour ago, and nothing else", async () => {
    const parent = await scratch.dir("stale");
    process.env.TMPDIR = parent;
    const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    const dead = deadPid();
    const names = {
      deadOld: `clawback-scratch-${dead}-aaaaaa`,
      deadRecent: `clawback-scratch-${dead}-bbbbbb`,
      liveOld: `clawback-scratch-${process.pid}-cccccc`,
      unrelated: `something-else-${dead}-dddddd`,
    };
    for (const [key, name] of Object.entries(names)) {
      await fs.mkdir(path.join(parent, name));
      await fs.writeFile(path.join(parent, name, "copy.sqlite"), "x");
      if (key !== "deadRecent") await fs.utimes(path.join(parent, name), hourAgo, hourAgo);
    }
    await make(1024);
    const left = await fs.readdir(parent);
    expect(left).not.toContain(names.deadOld);
    expect(left).toEqual(expect.arrayContaining([names.deadRecent, names.liveOld, names.unrelated]));
  });
});
