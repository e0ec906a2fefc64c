import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";

// The hidden names a checkout uses beside its target T: a staging folder the snapshot is written
// into, a holder the old tree is moved to during the swap, and the swap journal. They are named
// after T, so the next command that touches T finds what an interrupted one left, and carry the
// process id, so a folder whose process is gone is known to be garbage.

/** Longest file name most file systems allow (NAME_MAX, in bytes). */
export const NAME_MAX = 255;
/** Room a holder name needs beyond the target's own name: ".", ".clawback-staging-", a pid, "-", 12 hex digits. */
const HOLDER_OVERHEAD = 1 + ".clawback-staging-".length + 10 + 1 + 12;

export type HolderKind = "staging" | "old";

/**
 * The target's name as holder names carry it: the name itself when it leaves room, else its first
 * 100 bytes and a hash of the whole (a target near NAME_MAX still gets holders of legal length).
 */
function shortName(target: string): string {
  const name = path.basename(target);
  if (Buffer.byteLength(name) + HOLDER_OVERHEAD <= NAME_MAX) return name;
  let cut = name;
  while (Buffer.byteLength(cut) > 100) cut = [...cut].slice(0, -1).join("");
  return `${cut}~${createHash("sha256").update(name).digest("hex").slice(0, 12)}`;
}

function prefix(target: string): string {
  return `.${shortName(target)}.clawback-`;
}

/** A fresh holder path beside the target, owned by this process. */
export function holderPath(target: string, kind: HolderKind): string {
  return path.join(path.dirname(target), `${prefix(target)}${kind}-${process.pid}-${randomBytes(6).toString("hex")}`);
}

/** The swap journal's path beside the target (one per target: two swaps into one target exclude each other). */
export function journalPath(target: string): string {
  return path.join(path.dirname(target), `${prefix(target)}swap`);
}

/** The process that made a holder, when `name` (a file name in the target's parent) is one of the target's holders. */
export function holderOwner(target: string, name: string): { kind: HolderKind; pid: number } | undefined {
  const p = prefix(target);
  if (!name.startsWith(p)) return undefined;
  const m = /^(staging|old)-(\d+)-[0-9a-f]{12}$/.exec(name.slice(p.length));
  return m ? { kind: m[1] as HolderKind, pid: Number(m[2]) } : undefined;
}

/**
 * Holders of the format before swap journals (".T.clawback-old-<12 hex>", no process id): an old
 * tree a crashed swap left. Recognised only to put it back when T itself is missing.
 */
export function isLegacyOldHolder(target: string, name: string): boolean {
  return name.startsWith(`.${path.basename(target)}.clawback-old-`) && /^[0-9a-f]{12}$/.test(name.slice(`.${path.basename(target)}.clawback-old-`.length));
}

/** True when a process with this id runs on this host (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When a process started (clock ticks since boot, from /proc/<pid>/stat), or undefined where there
 * is no /proc. Told apart from a process id alone, it recognises a process id reused since a crash.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; starttime is field 22.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
