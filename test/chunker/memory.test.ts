// Bounded memory: a 2 GiB stream chunks in a process whose RSS stays under 200 MB.
// The stream is generated on the fly in a child process, so vitest's own memory is not measured.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_CHUNKER_PARAMS } from "../../src/chunker/index.ts";

const CHILD = fileURLToPath(new URL("./stream-2gib.child.ts", import.meta.url));
const MiB = 1024 * 1024;

interface ChildReport {
  bytes: number;
  chunks: number;
  largest: number;
  startRss: number;
  peakRss: number;
  seconds: number;
}

describe("bounded memory", () => {
  it("chunks a 2 GiB stream with RSS under 200 MB", { timeout: 120_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CHILD, "2048"], { timeout: 110_000 });
    const report = JSON.parse(stdout) as ChildReport;
    expect(report.bytes).toBe(2048 * MiB);
    expect(report.largest).toBeLessThanOrEqual(DEFAULT_CHUNKER_PARAMS.maxSize);
    // About one chunk per avgSize + minSize of random input.
    expect(report.chunks).toBeGreaterThan((2048 * MiB) / DEFAULT_CHUNKER_PARAMS.maxSize);
    expect(report.chunks).toBeLessThan((2048 * MiB) / DEFAULT_CHUNKER_PARAMS.minSize);
    expect(report.peakRss).toBeLessThan(200 * 1000 * 1000);
  });
});
