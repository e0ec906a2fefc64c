// The speed bench's request counts: clawback's CLI against the real S3 server through the
// recording proxy. The proxy's counts must agree with the CLI's own `--requests`, a checkout
// cannot download less than the packed bytes its snapshot needs, and check --read-data's pack
// reads are attributed to the packs the index lists.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateInit, simulateDay } from "../../bench/gen/index.ts";
import { indexCacheFile, neededBytes, packSizes } from "../../bench/lib/needed-bytes.ts";
import { CountedClawback, parseRequestsLine, type Counted } from "../../bench/lib/requests.ts";

const MB = 1024 * 1024;

describe("bench request counts", () => {
  const base = mkdtempSync(join(tmpdir(), "bench-requests-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("reads the counts of the CLI's --requests line", () => {
    const line = "requests: 4 PUT, 56 GET, 2 HEAD, 7 LIST, 1 DELETE; 4.29 MiB up, 2.29 MiB down (B2 class A 5, B 58, C 7)";
    expect(parseRequestsLine(`some warning\n${line}\n`)).toEqual({ put: 4, get: 56, head: 2, list: 7, delete: 1, classB: 58 });
    expect(parseRequestsLine("clawback: no repository")).toBeUndefined();
  });

  it("counts commits, checkouts and check --read-data on S3 as the CLI does, per pack", async () => {
    const state = join(base, "state");
    await generateInit(state, { sizeBytes: 6 * MB, dailySizeBytes: 6 * MB, seed: "requests" });
    const s3 = await CountedClawback.start(join(base, "clawback"));
    try {
      const agree = (c: Counted) => {
        expect(c.cli, c.label).toBeDefined();
        expect({ put: c.wire.put, get: c.wire.get, head: c.wire.head, list: c.wire.list, classB: c.wire.classB }, c.label).toEqual({ put: c.cli!.put, get: c.cli!.get, head: c.cli!.head, list: c.cli!.list, classB: c.cli!.classB });
        expect(c.wire.errors, c.label).toBe(0);
      };
      const ids: string[] = [];
      for (const label of ["initial", "daily"]) {
        if (label === "daily") await simulateDay(state);
        const c = await s3.counted(label, ["commit", state, "--json"]);
        agree(c);
        expect(c.wire.put, label).toBeGreaterThan(0);
        ids.push((JSON.parse(c.result.stdout) as { snapshot: { id: string } }).snapshot.id);
      }
      const cache = indexCacheFile(s3.cacheDir);
      const sizes = packSizes(cache);
      expect(sizes.size).toBeGreaterThan(0);

      const target = join(base, "restore");
      const checkout = await s3.counted("checkout", ["checkout", ids[1]!, target]);
      agree(checkout);
      expect(existsSync(join(target, "openclaw.json"))).toBe(true);
      const entries = JSON.parse((await s3.tool.command(["ls", ids[1]!, "--json"])).stdout) as { chunks?: string[] }[];
      const needed = neededBytes(cache, ids[1]!, entries);
      expect(needed.unknown).toBe(0);
      expect(needed.blobBytes).toBeGreaterThan(0);
      expect(needed.blobBytes).toBeLessThanOrEqual(needed.packBytes);
      // What it needs came from the packs: no less was downloaded from them, through range GETs only.
      expect(checkout.wire.packBytesDown).toBeGreaterThanOrEqual(needed.blobBytes);
      expect(checkout.wire.packGets).toBeGreaterThan(0);
      for (const [id, r] of checkout.packs) {
        expect(sizes.has(id)).toBe(true);
        expect(r.wholeGets).toBe(0);
        expect(r.unique).toBeLessThanOrEqual(Math.min(r.bytes, sizes.get(id)!));
      }
      // The distinct bytes read cover every needed blob.
      expect([...checkout.packs.values()].reduce((a, r) => a + r.unique, 0)).toBeGreaterThanOrEqual(needed.blobBytes);

      const check = await s3.counted("check", ["check", "--read-data", "--json"]);
      agree(check);
      // Every pack the index lists is read whole exactly once, and nothing more: the bases of
      // deltas come from packs already read (one range GET per delta base was made before).
      for (const [id, size] of sizes) {
        const r = check.packs.get(id);
        expect(r?.wholeGets, id).toBe(1);
        expect(r!.bytes, id).toBe(size);
      }
      expect(check.wire.packBytesDown).toBe([...sizes.values()].reduce((a, b) => a + b, 0));
    } finally {
      await s3.stop();
    }
  }, 240_000);
});
