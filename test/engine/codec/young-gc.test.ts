import { describe, expect, it } from "vitest";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { afterBlobs, COLLECT_EVERY } from "../../../src/engine/codec/young-gc.ts";

interface Collection {
  kind: number;
  flags: number;
}

/** The garbage collections V8 reports during `run` and a short pause after it. */
async function collectionsDuring(run: () => void): Promise<Collection[]> {
  const seen: Collection[] = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => seen.push((e as unknown as { detail: Collection }).detail)));
  observer.observe({ entryTypes: ["gc"] });
  try {
    run();
    await new Promise((resolve) => setTimeout(resolve, 50));
    return seen;
  } finally {
    observer.disconnect();
  }
}

const forcedMinor = (c: Collection) => c.kind === constants.NODE_PERFORMANCE_GC_MINOR && (c.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;

describe("young-generation collections after blobs", () => {
  it("collects the young generation once a thread has counted COLLECT_EVERY bytes of blobs, not before", async () => {
    // What earlier counting left over is used up first: one collection at most, then a clean count.
    await collectionsDuring(() => afterBlobs(COLLECT_EVERY));
    const before = await collectionsDuring(() => afterBlobs(COLLECT_EVERY - 1));
    expect(before.filter(forcedMinor)).toEqual([]);
    const at = await collectionsDuring(() => afterBlobs(1));
    expect(at.filter(forcedMinor)).toHaveLength(1);
    // Young collections only: a full one would cost a commit far more.
    expect(at.filter((c: Collection) => c.kind === constants.NODE_PERFORMANCE_GC_MAJOR && (c.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0)).toEqual([]);
  });

  it("adds no gc function to the thread's own globals", () => {
    afterBlobs(COLLECT_EVERY);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
