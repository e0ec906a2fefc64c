// Exclude patterns: the lines of a .gitignore, through the `ignore` package (the rules users know
// from git: https://git-scm.com/docs/gitignore#_pattern_format), matched against "/"-separated
// paths relative to the source root. In short:
//   "name"        a file or folder with that name at any depth
//   "dir/"        a folder (and everything under it) with that name at any depth
//   "a/b", "/a"   anchored at the root when the pattern has a "/" other than a trailing one
//   "*", "?"      within one path segment; "**" across segments; "[a-z]" a character class
//   "!pattern"    re-includes what an earlier pattern excluded, unless a parent folder of it is
//                 excluded ("cache/*" then "!cache/keep/" keeps cache/keep; "cache/" cannot)
//   "\#", "\!"    a literal "#" or "!" at the start ("#..." alone is a comment)
// Two choices of ours: matching is case-sensitive (git's default on Linux), and leading spaces are
// dropped (as before gitignore semantics; a name that starts with a space is written "\ name").

import ignore from "ignore";

export interface Matcher {
  /** True when the path, or one of its parent folders, is excluded. */
  matches(relPath: string, isDir: boolean): boolean;
}

export function compileMatcher(patterns: readonly string[]): Matcher {
  // Most commits have no excludes: spare their walk the lookups and the per-path result cache.
  if (patterns.every((p) => p.trim() === "")) return { matches: () => false };
  // One pattern per entry: passed as objects so that a newline inside one is not read as two rules.
  const rules = ignore({ ignorecase: false }).add(patterns.map((p) => ({ pattern: p.trimStart() })));
  return {
    matches(relPath: string, isDir: boolean): boolean {
      return rules.ignores(isDir ? `${relPath}/` : relPath);
    },
  };
}
