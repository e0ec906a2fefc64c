// Worker thread entry: the CPU-heavy half of commit (compress, seal; read and hash a database's
// page groups) and checkout (open and decompress; read restored files back, re-deriving every
// chunk id), off the main thread. Imported by nothing; started by codec-pool.ts.
import { parentPort, workerData } from "node:worker_threads";
import type { RepoKeys } from "../../crypto/keys.ts";
import { decodeSlices, encodeBatch, toWorkerFailure, type CodecRequest, type CodecResponse } from "./codec-protocol.ts";
import { decodeHeldDeltas } from "./held-deltas.ts";
import { writePlaced } from "./placed-writes.ts";
import { afterBlobs } from "./young-gc.ts";
import { hashGroupRange } from "./group-scan.ts";
import type { GroupHashRequest } from "../sqlite/page-reader.ts";
import { verifyRestoredFile, VERIFY_BLOCK } from "./verify-file.ts";

interface WorkerSetup {
  encryption: Uint8Array;
  id: Uint8Array;
  gear: Uint8Array;
  /** Encode batches finished, shared with the pool (see WorkerPool.encodeBacklog). */
  encoded: Int32Array;
  /** Counted up once this worker listens (see WorkerPool.up). */
  listening: Int32Array;
}

function serve(port: NonNullable<typeof parentPort>, raw: WorkerSetup): void {
  const keys: RepoKeys = { encryption: Buffer.from(raw.encryption), id: Buffer.from(raw.id), gear: Buffer.from(raw.gear) };
  port.on("message", (req: CodecRequest) => handle(port, keys, req, raw.encoded));
  Atomics.add(raw.listening, 0, 1);
}

/**
 * Ranges of databases to hash, taken one per turn of the event loop: a commit asks for a
 * database's ranges ahead of its turn (see ScanAhead), and an encode batch that arrives meanwhile
 * is served first (its message is handled before the next turn's range), so that the commit
 * does not stall on its pack writes behind a queue of reads.
 */
const scans: { port: NonNullable<typeof parentPort>; seq: number; range: GroupHashRequest }[] = [];

function queueScan(port: NonNullable<typeof parentPort>, seq: number, range: GroupHashRequest): void {
  scans.push({ port, seq, range });
  if (scans.length === 1) setImmediate(nextScan);
}

function nextScan(): void {
  const job = scans[0]!;
  hashGroupRange(job.range)
    .then(
      (hashes) => job.port.postMessage({ seq: job.seq, hashes } satisfies CodecResponse, [hashes.buffer as ArrayBuffer]),
      (err: unknown) => job.port.postMessage({ seq: job.seq, error: toWorkerFailure(err) } satisfies CodecResponse),
    )
    .finally(() => {
      scans.shift();
      if (scans.length > 0) setImmediate(nextScan);
    });
}

/** The plaintext buffer of the last range this worker wrote, reused by the next (see decodeSlices). */
let writeArena: Buffer | undefined;

function handle(port: NonNullable<typeof parentPort>, keys: RepoKeys, req: CodecRequest, encoded: Int32Array): void {
  if (req.op === "hashGroups") {
    queueScan(port, req.seq, req.range);
    return;
  }
  try {
    if (req.op === "encode") {
      // The input and output buffers go back to the main thread, which reuses them for later
      // batches (fresh buffers of this size cost a page fault per 4 KiB).
      let result: ReturnType<typeof encodeBatch>;
      try {
        result = encodeBatch(keys, req.input, req.items, req.spare);
      } finally {
        Atomics.add(encoded, 0, 1); // done, one way or the other, before the answer goes
      }
      const { sealed, lengths, deltas } = result;
      const moved = new Set([req.input.buffer as ArrayBuffer, sealed.buffer as ArrayBuffer]);
      port.postMessage({ seq: req.seq, sealed, lengths, deltas, input: req.input } satisfies CodecResponse, [...moved]);
    } else if (req.op === "verify") {
      const block = Buffer.allocUnsafe(VERIFY_BLOCK);
      for (const item of req.items) verifyRestoredFile(keys, item, block);
      port.postMessage({ seq: req.seq } satisfies CodecResponse);
    } else if (req.op === "write") {
      const { arena, plain } = decodeSlices(keys, req.bytes, req.blobs, req.where, writeArena);
      writePlaced(req.places, plain);
      writeArena = arena;
      // A view arrives with its whole buffer (moved or cloned), which goes back for the next read.
      const whole = req.bytes.buffer as ArrayBuffer;
      port.postMessage({ seq: req.seq, input: new Uint8Array(whole) } satisfies CodecResponse, [whole]);
    } else if (req.op === "deltas") {
      const plains = decodeHeldDeltas(keys, req.bytes, req.items, req.targets);
      writePlaced(req.places, plains);
      afterBlobs(plains.reduce((n, b) => n + b.byteLength, 0));
      port.postMessage({ seq: req.seq } satisfies CodecResponse);
    } else {
      const given = req.arena && Buffer.from(req.arena.buffer, req.arena.byteOffset, req.arena.byteLength);
      const { arena, plain } = decodeSlices(keys, req.bytes, req.blobs, req.where, given);
      port.postMessage({ seq: req.seq, plain } satisfies CodecResponse, [arena.buffer as ArrayBuffer]);
    }
  } catch (err) {
    port.postMessage({ seq: req.seq, error: toWorkerFailure(err) } satisfies CodecResponse);
  }
}

if (parentPort && workerData) serve(parentPort, workerData as WorkerSetup);
