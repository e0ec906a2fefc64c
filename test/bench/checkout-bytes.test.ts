// A full checkout downloads no more than it needs (issue 17: at most 1.15× the packed bytes of the
// blobs its snapshot needs, delta bases included), measured on the wire: clawback's CLI against
// the real S3 server through the recording proxy, on a short generated history whose databases
// change daily, so the later snapshots are made of deltas against blobs of earlier packs.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateInit, simulateDay } from "../../bench/gen/index.ts";
import { indexCacheFile, neededBytes } from "../../bench/lib/needed-bytes.ts";
import { CountedClawback } from "../../bench/lib/requests.ts";
import Database from "better-sqlite3";

const MB = 1024 * 1024;
const DAYS = 3;
/** The bench's target (bench/speed.ts): downloaded pack bytes over needed packed bytes. */
const MAX_OVERHEAD = 1.15;

describe("checkout bytes", () => {
  const base = mkdtempSync(join(tmpdir(), "checkout-bytes-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("downloads each needed byte once and at most 1.15x the packed bytes a snapshot with deltas needs", async () => {
    const state = join(base, "state");
    await generateInit(state, { sizeBytes: 8 * MB, dailySizeBytes: 8 * MB, seed: "checkout-bytes" });
    const s3 = await CountedClawback.start(join(base, "clawback"));
    try {
      const ids: string[] = [];
      for (let day = 0; day <= DAYS; day++) {
        if (day > 0) await simulateDay(state);
        const c = await s3.counted(`commit ${day}`, ["commit", state, "--json"]);
        ids.push((JSON.parse(c.result.stdout) as { snapshot: { id: string } }).snapshot.id);
      }
      const cacheFile = indexCacheFile(s3.cacheDir);
      for (const [day, id] of ids.entries()) {
        if (day === 0) continue;
        const target = join(base, `restore-${day}`);
        const checkout = await s3.counted(`checkout ${day}`, ["checkout", id, target]);
        expect(checkout.result.code, checkout.result.stderr).toBe(0);
        expect(existsSync(join(target, "openclaw.json"))).toBe(true);
        const entries = JSON.parse((await s3.tool.command(["ls", id, "--json"])).stdout) as { chunks?: string[] }[];
        const needed = neededBytes(cacheFile, id, entries);
        expect(needed.unknown).toBe(0);
        // The history is what this test is about: the snapshot has deltas, whose bases it needs too.
        if (day === DAYS) expect(deltaCount(cacheFile, entries), "deltas in the last snapshot").toBeGreaterThan(0);
        const reads = [...checkout.packs.values()];
        const downloaded = reads.reduce((n, r) => n + r.bytes, 0);
        const distinct = reads.reduce((n, r) => n + r.unique, 0);
        const label = `day ${day}: ${downloaded} bytes downloaded, ${distinct} distinct, ${needed.blobBytes} needed (${(downloaded / needed.blobBytes).toFixed(3)}x)`;
        expect(downloaded, label).toBe(checkout.wire.packBytesDown);
        // No byte of a pack comes twice (overlapping ranges, bases read apart from their ranges).
        expect(downloaded, label).toBe(distinct);
        expect(downloaded, label).toBeGreaterThanOrEqual(needed.blobBytes);
        expect(downloaded, label).toBeLessThanOrEqual(needed.blobBytes * MAX_OVERHEAD);
      }
    } finally {
      await s3.stop();
    }
  }, 300_000);
});

/** How many of the snapshot's chunks are stored as deltas (the index cache, read-only, as needed-bytes.ts reads it). */
function deltaCount(cacheFile: string, entries: readonly { chunks?: string[] }[]): number {
  const db = new Database(cacheFile, { readonly: true, fileMustExist: true });
  try {
    const base = db.prepare<[string], { base: string | null }>("SELECT base FROM blobs WHERE id = ?");
    return entries.flatMap((e) => e.chunks ?? []).filter((id) => base.get(id)?.base).length;
  } finally {
    db.close();
  }
}
