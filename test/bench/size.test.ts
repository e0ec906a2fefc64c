// The speed bench runs the same state at several sizes (--size) with the same daily change volume
// (--daily-size): the generator keeps the day's writes to what a state of the daily size would get.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateInit, readMeta, simulateDay } from "../../bench/gen/index.ts";
import { parseSize } from "../../bench/lib/args.ts";

const MB = 1024 * 1024;

describe("bench sizes", () => {
  const base = mkdtempSync(join(tmpdir(), "bench-size-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("parses sizes the way the bench's options are written", () => {
    expect(parseSize("500MB")).toBe(500 * MB);
    expect(parseSize("1.5GB")).toBe(1.5 * 1024 * MB);
    expect(parseSize("4mb")).toBe(4 * MB);
    expect(parseSize("800K")).toBe(800 * 1024);
    expect(parseSize("250")).toBe(250 * MB);
    for (const bad of ["", "MB", "1.5TB", "-3MB", "0", "lots"]) expect(() => parseSize(bad), bad).toThrow(/size/);
  });

  it("a larger state with the same daily size changes by about the same bytes a day; without it, by more", async () => {
    const day = async (name: string, sizeBytes: number, dailySizeBytes?: number) => {
      const dir = join(base, name);
      await generateInit(dir, { sizeBytes, seed: "size", ...(dailySizeBytes ? { dailySizeBytes } : {}) });
      expect(readMeta(dir).dailySizeBytes).toBe(dailySizeBytes);
      return (await simulateDay(dir)).transcriptBytes;
    };
    const small = await day("small", 5 * MB, 5 * MB);
    const large = await day("large", 15 * MB, 5 * MB);
    const scaled = await day("scaled", 15 * MB);
    expect(small).toBeGreaterThan(0);
    expect(large / small).toBeGreaterThan(0.75);
    expect(large / small).toBeLessThan(1.33);
    expect(scaled / small).toBeGreaterThan(2);
  }, 240_000);
});
