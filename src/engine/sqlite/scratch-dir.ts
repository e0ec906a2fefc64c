import { readFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import { ScratchFullError } from "../../errors.ts";
import { makePrivateFolder, removeLeftovers } from "./private-folder.ts";
import { captureSqlite, type CaptureOptions, type CapturedDatabase } from "./sqlite-capture.ts";

/** Linux's shared-memory file system: RAM-backed, so a copy there never goes to the disk. */
const SHM = "/dev/shm";
const TMPFS_MAGIC = 0x01021994;
/** Share of the memory the system reports available that database copies may take there. */
const MEMORY_SHARE = 0.25;
const PREFIX = "clawback-scratch-";

/**
 * The private folders a commit (or a diff against a folder) copies live databases into: each copy
 * is written once by SQLite's backup API, read once or twice, then deleted.
 *
 * In RAM when it fits: on the bench state the five backup copies took 1.2 s of wall time into
 * /tmp on ext4 and 0.64 s into /dev/shm, with a fifth less system time, and nothing is written
 * to the disk (a daily backup of a 330 MB state otherwise writes 330 MB of copies that are
 * deleted at once). It fits when twice the largest file that could be a database (the one being
 * stored and the one captured ahead of it) is within both the shared-memory file system's free
 * space and a quarter of the memory the system has available. Otherwise, or where there is no
 * /dev/shm, or when TMPDIR names a folder (the user's choice), the system's temporary folder.
 *
 * /dev/shm is shared with every other process (a browser keeps its shared memory there), so it
 * can fill up after the choice was made: a copy that finds no room there is made again in a folder
 * on disk, and so are all later ones (see captureInScratch). A copy that finds no room on disk
 * fails the commit (ScratchFullError naming the folder).
 */
export class ScratchDir {
  /** The first folder: in RAM when `inMemory`. */
  readonly first: string;
  readonly inMemory: boolean;
  private readonly diskParent: string;
  private spilled: Promise<string> | undefined;

  constructor(first: string, inMemory: boolean, diskParent: string) {
    this.first = first;
    this.inMemory = inMemory;
    this.diskParent = diskParent;
  }

  /** The folder the next copy goes to. */
  folder(): Promise<string> {
    return this.spilled ?? Promise.resolve(this.first);
  }

  /**
   * A copy into `full` found no room. When that is the RAM folder, later copies go to a folder on
   * disk (made on the first call; copies running side by side may all report it) and this returns
   * true: try again. False when `full` is on disk already: there is nowhere else to go.
   */
  async spill(full: string): Promise<boolean> {
    if (!this.inMemory || full !== this.first) return false;
    this.spilled ??= makePrivateFolder(this.diskParent, PREFIX);
    await this.spilled;
    return true;
  }

  async remove(): Promise<void> {
    const folders = [this.first, ...(this.spilled ? [await this.spilled.catch(() => undefined)] : [])];
    for (const folder of folders) if (folder) await fs.rm(folder, { recursive: true, force: true });
  }
}

/**
 * Makes a commit's scratch folders (see ScratchDir). `largestCandidate`: see largestFile (commit/walk.ts).
 * Folders of this kind that a process that is gone left behind (a commit killed mid-way), in /dev/shm and
 * in the temporary folder, are removed first: they hold plaintext copies of databases, and in
 * /dev/shm memory until the next reboot.
 */
export async function makeScratchDir(largestCandidate: number): Promise<ScratchDir> {
  const disk = os.tmpdir();
  const inMemory = !process.env.TMPDIR && (await fitsInMemory(2 * largestCandidate));
  const parent = inMemory ? SHM : disk;
  await removeLeftovers([...new Set([SHM, disk])], PREFIX);
  return new ScratchDir(await makePrivateFolder(parent, PREFIX), inMemory, disk);
}

/**
 * Captures the database at `dbPath` into the scratch folder (see captureSqlite), once more on disk
 * when the RAM folder had no room for it.
 */
export async function captureInScratch(dbPath: string, scratch: ScratchDir, options: CaptureOptions): Promise<CapturedDatabase> {
  const folder = await scratch.folder();
  try {
    return await captureSqlite(dbPath, folder, options);
  } catch (err) {
    if (err instanceof ScratchFullError && err.path === folder && (await scratch.spill(folder))) return captureSqlite(dbPath, await scratch.folder(), options);
    throw err;
  }
}

async function fitsInMemory(bytes: number): Promise<boolean> {
  if (process.platform !== "linux") return false;
  try {
    const fsStat = await fs.statfs(SHM);
    if (fsStat.type !== TMPFS_MAGIC) return false;
    await fs.access(SHM, fs.constants.W_OK);
    const free = fsStat.bavail * fsStat.bsize;
    const available = memoryAvailable();
    return available !== undefined && bytes <= free && bytes <= available * MEMORY_SHARE;
  } catch {
    return false;
  }
}

/** MemAvailable from /proc/meminfo, in bytes (what can be used without swapping). */
function memoryAvailable(): number | undefined {
  try {
    const line = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
    return line ? Number(line[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
