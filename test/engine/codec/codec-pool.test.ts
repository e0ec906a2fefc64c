import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { chunkId, deriveKeys } from "../../../src/crypto/keys.ts";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { BlobType, decodeBlob, encodeBlob } from "../../../src/repo/blob.ts";
import type { SealedItem } from "../../../src/engine/codec/held-deltas.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { createCodec } from "../../../src/engine/codec/codec-pool.ts";
import type { BatchItem } from "../../../src/engine/codec/codec-protocol.ts";

const MiB = 1024 * 1024;

/** A batch of 32 KiB chunks of compressible text, as the commit sends them. */
function batch(keys: ReturnType<typeof deriveKeys>, seed: number): { input: Buffer; items: BatchItem[] } {
  const input = Buffer.from(`entry ${seed}: the agent wrote a note about the garden and the weather. `.repeat(Math.ceil(MiB / 60)).slice(0, MiB));
  const items: BatchItem[] = [];
  for (let offset = 0; offset < input.byteLength; offset += 32 * 1024) {
    items.push({ type: BlobType.data, id: chunkId(keys, input.subarray(offset, offset + 32 * 1024)), offset, length: 32 * 1024 });
  }
  return { input, items };
}

describe("codec pool", () => {
  it("says its worker is up only once the thread listens, and knows it without an event-loop turn", async () => {
    const codec = createCodec(deriveKeys(randomBytes(32)), { encode: 1, decode: 0 });
    try {
      expect(codec.workerUp!()).toBe(false);
      codec.warm!();
      expect(codec.workerUp!()).toBe(false);
      // Spin without yielding: the flag is shared memory, not a message.
      const until = Date.now() + 10_000;
      while (!codec.workerUp!() && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      expect(codec.workerUp!()).toBe(true);
      await codec.close();
      expect(codec.workerUp!()).toBe(false);
    } finally {
      await codec.close();
    }
  });

  it("counts the encode batches its worker has not finished, up to date while the caller's event loop does not run", async () => {
    const keys = deriveKeys(randomBytes(32));
    const codec = createCodec(keys, { encode: 1, decode: 0 });
    try {
      // One round trip first, so the worker is up and its modules loaded.
      const first = batch(keys, 99);
      await codec.encodeBatch!(first.input, first.items);
      expect(codec.encodeBacklog!()).toBe(0);

      const batches = Array.from({ length: 6 }, (_, i) => batch(keys, i));
      const expected = batches.map((b) => b.items.map((item) => Buffer.from(b.input.subarray(item.offset, item.offset + item.length))));
      const jobs = batches.map((b) => codec.encodeBatch!(b.input, b.items));
      // Nothing can have been finished yet by this thread's reckoning or the worker's: six outstanding.
      expect(codec.encodeBacklog!()).toBeGreaterThan(0);
      // Without a turn of this thread's event loop (no message can arrive), the count still goes
      // down to 0. (Whether this loop also sees the steps between depends on how the two threads
      // are scheduled: on a loaded machine it can miss them all, so that is not asserted.)
      const deadline = Date.now() + 20_000;
      while (codec.encodeBacklog!() > 0 && Date.now() < deadline);
      expect(codec.encodeBacklog!()).toBe(0);

      const results = await Promise.all(jobs);
      results.forEach(({ sealed, lengths }, b) => {
        let at = 0;
        lengths.forEach((length, i) => {
          const item = batches[b]!.items[i]!;
          expect(decodeBlob(keys, item.id, sealed.subarray(at, at + length), "test").equals(expected[b]![i]!)).toBe(true);
          at += length;
        });
      });
      expect(codec.encodeBacklog!()).toBe(0);
    } finally {
      await codec.close();
    }
  });

  const scratch = useScratch();

  it("decodes deltas with a base they share on its worker and writes each to its places there", async () => {
    const keys = deriveKeys(randomBytes(32));
    const dir = await scratch.dir("deltas");
    const basePlain = Buffer.from("page of rows, ".repeat(2400).slice(0, 32 * 1024));
    const base = encodeBlob(keys, BlobType.data, basePlain);
    const plains = [1, 2, 3].map((n) => {
      const p = Buffer.from(basePlain);
      p.write(`row changed on day ${n}`, 1000 * n);
      return p;
    });
    const deltas = plains.map((p) => encodeBlob(keys, BlobType.data, p, undefined, { id: base.id, data: basePlain }));
    for (const d of deltas) expect(d.base).toBe(base.id);
    const sealed = [base, ...deltas];
    const bytes = Buffer.allocUnsafeSlow(sealed.reduce((n, b) => n + b.sealed.byteLength, 0));
    let at = 0;
    const items: SealedItem[] = sealed.map((b, i) => {
      b.sealed.copy(bytes, at);
      at += b.sealed.byteLength;
      return { id: b.id, offset: at - b.sealed.byteLength, length: b.sealed.byteLength, rawLength: i === 0 ? basePlain.byteLength : plains[i - 1]!.byteLength, where: "data/p", ...(i > 0 ? { base: base.id } : {}) };
    });
    const file = (n: number) => path.join(dir, `db-${n}`);
    const codec = createCodec(keys, { encode: 1, decode: 0 });
    try {
      // The second delta goes to two files (two databases with the same page group).
      await codec.writeDeltas!(bytes, items, [1, 2, 3], [[{ file: file(1), position: 0, end: true }], [{ file: file(2), position: 32 * 1024, end: true }, { file: file(4), position: 0, end: true }], [{ file: file(3), position: 0, end: true }]]);
    } finally {
      await codec.close();
    }
    expect(fs.readFileSync(file(1)).equals(plains[0]!)).toBe(true);
    expect(fs.readFileSync(file(2)).subarray(32 * 1024).equals(plains[1]!)).toBe(true);
    expect(fs.readFileSync(file(4)).equals(plains[1]!)).toBe(true);
    expect(fs.readFileSync(file(3)).equals(plains[2]!)).toBe(true);
  });
  it.runIf(fs.existsSync("/proc/self/task"))("starts its worker when warmed, before any request; a warmed worker, used or not, does not keep the process alive", async () => {
    // In a child process, which must end by itself with the codec never closed (a script file:
    // the worker inherits the process's flags, and --input-type would fail it).
    const dir = await scratch.dir("warm");
    const pool = new URL("../../../src/engine/codec/codec-pool.ts", import.meta.url).href;
    const keysModule = new URL("../../../src/crypto/keys.ts", import.meta.url).href;
    const run = (use: boolean) => {
      const file = path.join(dir, `warm-${use}.mjs`);
      const script = `
        import { createCodec } from ${JSON.stringify(pool)};
        import { deriveKeys } from ${JSON.stringify(keysModule)};
        import { readdirSync } from "node:fs";
        const threads = () => readdirSync("/proc/self/task").length;
        const codec = createCodec(deriveKeys(Buffer.alloc(32, 7)), { encode: 1, decode: 0 });
        const before = threads();
        codec.warm();
        codec.warm(); // a second call starts nothing more
        const after = threads();
        if (${use}) await codec.verifyFiles([]); // answered by the worker
        console.log(JSON.stringify({ started: after - before }));
      `;
      fs.writeFileSync(file, script);
      const res = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 30_000 });
      expect(res.error, res.stderr).toBeUndefined();
      expect(res.status, res.stderr).toBe(0);
      return (JSON.parse(res.stdout) as { started: number }).started;
    };
    expect(run(false)).toBeGreaterThanOrEqual(1);
    expect(run(true)).toBeGreaterThanOrEqual(1);
  });
});
