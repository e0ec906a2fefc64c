import { describe, expect, it } from "vitest";
import { compileMatcher } from "../../src/engine/excludes.ts";

describe("exclude patterns: the meaning they had before gitignore semantics", () => {
  const m = compileMatcher(["credentials/", ".env", "*.log", "agents/*/cache/", "tmp", "**/node_modules/**", "media/**/*.mp4"]);
  it.each([
    ["credentials", true, true],
    ["credentials/token", false, true],
    ["credentials", false, false], // a file named like the folder pattern is kept
    [".env", false, true],
    ["sub/.env", false, true],
    [".env.example", false, false],
    ["logs/app.log", false, true],
    ["agents/main/cache/x.bin", false, true],
    ["agents/main/sessions/cache", false, false],
    ["tmp", true, true],
    ["a/tmp/b", false, true],
    ["x/node_modules/y/z.js", false, true],
    ["media/2026/clip.mp4", false, true],
    ["media/clip.mp4", false, true],
    ["workspace/notes.md", false, false],
  ])("%s (dir=%s) → excluded %s", (p, isDir, expected) => {
    expect(m.matches(p, isDir)).toBe(expected);
  });

  it("matches nothing without patterns", () => {
    expect(compileMatcher([]).matches("anything", false)).toBe(false);
  });

  it("ignores blank patterns and leading spaces (as before); is case-sensitive", () => {
    const blank = compileMatcher(["", "   ", "  .env"]);
    expect(blank.matches("a", false)).toBe(false);
    expect(blank.matches(".env", false)).toBe(true);
    expect(compileMatcher(["*.LOG"]).matches("app.log", false)).toBe(false);
  });
});

describe("exclude patterns: what gitignore semantics add", () => {
  it.each([
    // negation re-includes, but not below an excluded folder
    [["cache/*", "!cache/keep/"], "cache", true, false],
    [["cache/*", "!cache/keep/"], "cache/keep", true, false],
    [["cache/*", "!cache/keep/"], "cache/keep/k.txt", false, false],
    [["cache/*", "!cache/keep/"], "cache/other", true, true],
    [["cache/*", "!cache/keep/"], "cache/a.bin", false, true],
    [["cache/", "!cache/keep/"], "cache/keep/k.txt", false, true],
    [["*.log", "!keep.log"], "keep.log", false, false],
    [["*.log", "!keep.log"], "x/app.log", false, true],
    // character classes
    [["log[0-9].txt"], "log7.txt", false, true],
    [["log[0-9].txt"], "logA.txt", false, false],
    [["*.[oa]"], "lib/x.a", false, true],
    [["*.[!oa]"], "x.c", false, true],
    [["*.[!oa]"], "x.o", false, false],
    // escapes and comments
    [["\\#draft"], "#draft", false, true],
    [["#draft"], "#draft", false, false],
    [["\\!x"], "!x", false, true],
    [["a\\*b"], "a*b", false, true],
    [["a\\*b"], "axb", false, false],
  ])("%j: %s (dir=%s) → excluded %s", (patterns, p, isDir, expected) => {
    expect(compileMatcher(patterns).matches(p, isDir)).toBe(expected);
  });
});
