// Exclude/keep patterns, matched against "/"-separated paths relative to the source root:
//   "name"        a file or folder with that name at any depth
//   "dir/"        a folder (and everything under it) with that name at any depth
//   "a/b"         anchored at the root when the pattern contains a "/" (other than a trailing one)
//   "*", "?"      within one path segment; "**" across segments
// A pattern that matches a folder excludes everything under it.

export interface Matcher {
  /** True when the path, or one of its ancestors, is matched. */
  matches(relPath: string, isDir: boolean): boolean;
}

interface Compiled {
  re: RegExp;
  dirOnly: boolean;
}

function compile(pattern: string): Compiled {
  let p = pattern.trim();
  const dirOnly = p.endsWith("/");
  if (dirOnly) p = p.slice(0, -1);
  if (p.startsWith("/")) p = p.slice(1);
  const anchored = p.includes("/");
  let re = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*") {
      if (p[i + 1] === "*") {
        const slash = p[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return { re: new RegExp(anchored ? `^${re}$` : `^(?:.*/)?${re}$`, "s"), dirOnly };
}

export function compileMatcher(patterns: readonly string[]): Matcher {
  const compiled = patterns.filter((p) => p.trim() !== "").map(compile);
  return {
    matches(relPath: string, isDir: boolean): boolean {
      if (compiled.length === 0) return false;
      const parts = relPath.split("/");
      // Check the path and each ancestor folder, so "cache/" excludes "cache/a/b".
      for (let n = parts.length; n >= 1; n--) {
        const sub = parts.slice(0, n).join("/");
        const subIsDir = n < parts.length || isDir;
        for (const c of compiled) if ((!c.dirOnly || subIsDir) && c.re.test(sub)) return true;
      }
      return false;
    },
  };
}
