import * as fs from "node:fs";
import * as path from "node:path";
import { PathTooLongError, TargetOverlapError } from "../../errors.ts";
import { NAME_MAX } from "./holders.ts";

/** Longest path Linux accepts in one system call (PATH_MAX, in bytes, with its NUL). */
const PATH_MAX = 4096;

/** Something a checkout must never replace or write into, and what to call it in the error. */
export interface Protected {
  what: string;
  path: string;
}

/**
 * The real path of `p` (links resolved) even when its last parts do not exist yet: the real path
 * of the nearest existing folder above it, with the rest appended.
 */
function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let at = abs; ; at = path.dirname(at)) {
    try {
      return path.join(fs.realpathSync(at), ...rest.reverse());
    } catch {
      if (path.dirname(at) === at) return abs;
      rest.push(path.basename(at));
    }
  }
}

function inside(p: string, folder: string): boolean {
  return p === folder || p.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep);
}

/**
 * Invariant 11, checked before anything is written: a target that holds, is, or lies inside the
 * repository or the index cache is refused (the swap would move them away and delete them, or
 * the restored tree would land among their files). Also refuses a target name or path longer than
 * the system allows, naming it, instead of failing on the first temporary folder.
 */
export function assertTargetAllowed(target: string, protect: readonly Protected[]): void {
  const name = path.basename(target);
  if (Buffer.byteLength(name) > NAME_MAX) throw new PathTooLongError(target, `the folder name is ${Buffer.byteLength(name)} bytes; the file system allows ${NAME_MAX}`);
  if (Buffer.byteLength(target) >= PATH_MAX) throw new PathTooLongError(target, `the path is ${Buffer.byteLength(target)} bytes; the system allows ${PATH_MAX - 1}`);
  const real = realPathOf(target);
  for (const p of protect) {
    const held = realPathOf(p.path);
    if (inside(held, real)) {
      throw new TargetOverlapError(target, `refusing to check out here: the folder holds ${p.what} (${held}), which replacing it would delete; choose another folder`, held);
    }
    if (inside(real, held)) {
      throw new TargetOverlapError(target, `refusing to check out here: the folder is inside ${p.what} (${held}); choose another folder`, held);
    }
  }
}
