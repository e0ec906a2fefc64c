import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import { statfsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { captureInScratch, makeScratchDir, ScratchDir } from "../../../src/engine/sqlite/scratch-dir.ts";
import { ScratchFullError } from "../../../src/errors.ts";
import { buildOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { mountTmpfs } from "../../helpers/tmpfs.ts";
import { killHard, startCrashChild } from "../../helpers/killed-child.ts";
import { thisProcess } from "../../../src/repo/process-identity.ts";
import { useScratch } from "../../helpers/scratch.ts";

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
  const made: ScratchDir[] = [];
  const savedTmpdir = process.env.TMPDIR;
  afterEach(async () => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    for (const d of made.splice(0)) await d.remove();
  });
  const make = async (largest: number) => {
    const dir = await makeScratchDir(largest);
    made.push(dir);
    expect(await dir.folder()).toBe(dir.first);
    return dir.first;
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

  it("removes folders of processes that are gone at once, those of a reused pid too, and nothing else", async () => {
    const parent = await scratch.dir("stale");
    process.env.TMPDIR = parent;
    const dead = deadPid();
    const me = thisProcess();
    const names = {
      dead: `clawback-scratch-${dead}-aaaaaa`,
      deadWithStart: `clawback-scratch-${dead}-12345-bbbbbb`,
      // This process's pid, but another start time: the pid was reused, its maker is gone.
      reused: `clawback-scratch-${process.pid}-1-cccccc`,
      live: `clawback-scratch-${process.pid}-${me.start ? `${me.start}-` : ""}dddddd`,
      liveOld: `clawback-scratch-${process.pid}-eeeeee`,
      unrelated: `something-else-${dead}-ffffff`,
    };
    for (const name of Object.values(names)) {
      await fs.mkdir(path.join(parent, name));
      await fs.writeFile(path.join(parent, name, "copy.sqlite"), "x");
    }
    await make(1024);
    const left = await fs.readdir(parent);
    for (const gone of [names.dead, names.deadWithStart, ...(me.start ? [names.reused] : [])]) expect(left).not.toContain(gone);
    expect(left).toEqual(expect.arrayContaining([names.live, names.liveOld, names.unrelated]));
  });

  it("the next run removes the scratch folder of a SIGKILLed commit, in /dev/shm as in the temporary folder", async () => {
    const parent = await scratch.dir("killed");
    for (const env of [{ ...process.env, TMPDIR: parent }, ...(shmIsTmpfs ? [withoutTmpdir()] : [])]) {
      const { child, said: folder } = await startCrashChild("scratch", [], env);
      expect(await fs.readFile(path.join(folder, "copy.sqlite"), "utf8")).toBe("plaintext database copy");
      await killHard(child);
      // The next run chooses its own folder (here always in `parent`), and tidies both places.
      process.env.TMPDIR = parent;
      await make(1024);
      await expect(fs.stat(folder)).rejects.toMatchObject({ code: "ENOENT" });
    }
  });
});

function withoutTmpdir(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TMPDIR;
  return env;
}

describe("a database copy that finds no room", () => {
  const scratch = useScratch();

  /** A RAM folder too small for a 3 MB database (a 1 MiB tmpfs standing in for a /dev/shm that filled up), and a disk folder. */
  async function setUp(ctx: { skip(): void }): Promise<{ ram: string; disk: string; db: string; small: string; unmount: () => void } | undefined> {
    const root = await scratch.dir("no-room");
    const ram = path.join(root, "ram");
    const disk = path.join(root, "disk");
    await fs.mkdir(ram);
    await fs.mkdir(disk);
    const unmount = mountTmpfs(ram, "1m");
    if (!unmount) {
      ctx.skip();
      return undefined;
    }
    const db = path.join(root, "big.sqlite");
    buildOpenClawLikeDb(db, 3 * 1024 * 1024);
    const small = path.join(root, "small.sqlite");
    buildOpenClawLikeDb(small, 64 * 1024, 2);
    return { ram, disk, db, small, unmount };
  }

  it("in RAM is made again in a folder on disk, where every later copy goes too", async (ctx) => {
    const s = await setUp(ctx);
    if (!s) return;
    try {
      const dir = new ScratchDir(await fs.mkdtemp(path.join(s.ram, "clawback-scratch-")), true, s.disk);
      // Two copies side by side (a commit's capture ahead and the current one): both move to the same disk folder.
      const [big, again] = await Promise.all([captureInScratch(s.db, dir, {}), captureInScratch(s.db, dir, {})]);
      const onDisk = await dir.folder();
      expect(onDisk).not.toBe(dir.first);
      expect(path.dirname(onDisk)).toBe(s.disk);
      expect(path.basename(onDisk)).toMatch(new RegExp(`^clawback-scratch-${process.pid}-`));
      expect(path.dirname(big.file)).toBe(onDisk);
      expect(path.dirname(again.file)).toBe(onDisk);
      expect((await fs.stat(big.file)).size).toBe((await fs.stat(s.db)).size);
      // A copy that would fit in RAM now goes to disk as well: the RAM folder stays out of use.
      const small = await captureInScratch(s.small, dir, {});
      expect(path.dirname(small.file)).toBe(onDisk);
      expect(await fs.readdir(dir.first)).toEqual([]);
      await dir.remove();
      expect(await fs.readdir(s.disk)).toEqual([]);
      expect(await fs.readdir(s.ram)).toEqual([]);
    } finally {
      s.unmount();
    }
  });

  it("on disk fails with a ScratchFullError naming the folder and saying how to choose another", async (ctx) => {
    const s = await setUp(ctx);
    if (!s) return;
    try {
      const folder = await fs.mkdtemp(path.join(s.ram, "clawback-scratch-"));
      const dir = new ScratchDir(folder, false, s.disk);
      const err = await captureInScratch(s.db, dir, {}).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ScratchFullError);
      expect((err as ScratchFullError).path).toBe(folder);
      expect((err as Error).message).toContain(`no room for the copy of ${s.db}`);
      expect((err as Error).message).toContain("TMPDIR");
      expect(await fs.readdir(folder)).toEqual([]);
      expect(await fs.readdir(s.disk)).toEqual([]);
      await dir.remove();
    } finally {
      s.unmount();
    }
  });
});
