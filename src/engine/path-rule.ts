import * as path from "node:path";

// Invariant 10: one rule for the names a snapshot may hold, applied by commit (what it stores) and
// by checkout, ls and check (what they accept). A name commit stored is therefore never refused
// later, and a crafted listing cannot write outside the target.
//
// A listing path is relative and "/"-separated. Each segment is a file name as this system allows
// it: on POSIX anything but "/" and NUL, and not "." or "..". A backslash or a colon is an
// ordinary character there (`a\b`, `a:b.txt`); only on Windows, where they separate or qualify
// paths, are they refused.

const WINDOWS = process.platform === "win32";

/** Why `p` cannot be a listing path, or undefined when it can. */
export function listingPathProblem(p: unknown): string | undefined {
  if (typeof p !== "string" || p === "") return "empty or not a string";
  if (p.includes("\0")) return "contains a NUL character";
  if (p.startsWith("/")) return "absolute path";
  for (const segment of p.split("/")) {
    if (segment === "") return "contains an empty segment ('//' or a trailing '/')";
    if (segment === "." || segment === "..") return "contains a '.' or '..' segment";
    if (WINDOWS && (segment.includes("\\") || segment.includes(":"))) return "contains '\\' or ':', which are not file name characters on Windows";
  }
  return undefined;
}

/**
 * Why a link at listing path `p` with `target` cannot be restored, or undefined when it can: a
 * link must name something inside the restore target (relative, not climbing above it).
 */
export function linkTargetProblem(p: string, target: unknown): string | undefined {
  if (typeof target !== "string" || target === "" || target.includes("\0")) return `symlink target ${JSON.stringify(target)} is empty or invalid`;
  if (path.posix.isAbsolute(target) || (WINDOWS && path.win32.isAbsolute(target))) return `symlink target ${JSON.stringify(target)} is absolute`;
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(p), target));
  if (resolved === ".." || resolved.startsWith("../")) return `symlink target ${JSON.stringify(target)} escapes the restore target`;
  return undefined;
}
