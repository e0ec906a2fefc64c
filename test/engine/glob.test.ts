import { describe, expect, it } from "vitest";
import { compileMatcher } from "../../src/engine/glob.ts";

describe("exclude patterns", () => {
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
});
