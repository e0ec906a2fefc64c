import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { RepoKeys } from "../../crypto/keys.ts";
import { decodeSlices, fromWorkerFailure, type BatchItem, type BlobSlice, type CodecRequest, type CodecResponse } from "./codec-protocol.ts";
import type { SealedItem } from "./held-deltas.ts";
import type { Placement } from "./placed-writes.ts";
import type { VerifyItem } from "./verify-file.ts";
import type { GroupHashRequest } from "../sqlite/page-reader.ts";

/**
 * Compresses and seals blobs for commit, opens and verifies them for checkout: on worker threads
 * when the machine has cores to spare, else inline on the caller's thread.
 */
export interface BlobCodec {
  /**
   * Encodes a batch of chunks on another thread: `input` holds their bytes (items give where) and
   * is moved there and handed back with the result; `spare` is a buffer to seal into if it is
   * large enough. Undefined for the inline codec: the caller encodes on its own thread.
   */
  encodeBatch?(input: Buffer, items: BatchItem[], spare?: Buffer): Promise<EncodedBatch>;
  /**
   * Encode batches sent and not yet finished by the workers, as they count them: unlike the
   * promises, this is up to date while the caller's thread has not let its event loop run.
   */
  encodeBacklog?(): number;
  /**
   * Plaintexts of the given blobs of one fetched range, each authenticated but not checked against
   * its id (the caller does that, see decodeSlices), as views of one buffer: `arena` when given and
   * large enough (see arenaBytes), else a new one.
   */
  decodeRange(bytes: Uint8Array, blobs: BlobSlice[], where: string, arena?: Buffer): Promise<Buffer[]>;
  /**
   * Reads restored files back on another thread and checks every chunk (see verifyRestoredFile);
   * rejects with the first difference. Undefined for the inline codec.
   */
  verifyFiles?(items: VerifyItem[]): Promise<void>;
  /**
   * Decodes a fetched range on another thread and writes each plaintext to its places there
   * (`places[i]` for `blobs[i]`, see writePlaced); resolves once written, with the whole buffer
   * `bytes` was a view of, for the next read. `movable`: that buffer is the caller's alone (not
   * node's shared pool), so it is moved to the worker rather than copied. Undefined for the inline codec.
   */
  writeRange?(bytes: Uint8Array, blobs: BlobSlice[], places: Placement[][], where: string, movable: boolean): Promise<Buffer>;
  /**
   * Decodes deltas with their bases on another thread (decodeHeldDeltas) and writes item
   * `targets[i]` to `places[i]` there; `bytes` must be a buffer of its own, which is moved there.
   * Undefined for the inline codec.
   */
  writeDeltas?(bytes: Buffer, items: SealedItem[], targets: number[], places: Placement[][]): Promise<void>;
  /**
   * Reads a range of a captured database's page groups on another thread, through the descriptor
   * the request names (which the caller keeps open until this settles), and resolves with their
   * hashes (see UnchangedGroups.scan). Undefined for the inline codec.
   */
  hashGroups?(range: GroupHashRequest): Promise<Uint8Array>;
  /**
   * True once a worker thread is up and waiting for work (a thread takes a tenth of a second or
   * more to start): until then a caller with work of its own may do it itself. Up to date while
   * the caller's thread has not let its event loop run. Undefined for the inline codec.
   */
  workerUp?(): boolean;
  /**
   * Starts the worker threads now rather than with the first request: a thread takes about a
   * tenth of a second to start, which a caller about to send work can spend doing something else.
   */
  warm?(): void;
  /** Worker threads behind this codec (0: everything runs on the caller's thread). */
  readonly threads: number;
  close(): Promise<void>;
}

/** A batch back from encodeBatch: the sealed blobs back to back, each one's length, the items stored as deltas, and the input buffer to reuse. */
interface EncodedBatch {
  sealed: Buffer;
  lengths: number[];
  deltas: number[];
  input: Buffer;
}

export interface CodecThreads {
  /** Worker threads that compress and seal (0: inline). */
  encode: number;
  /** Worker threads that open and decompress on checkout (0: inline). */
  decode: number;
}

// Compiled output runs .js; tests and `node src/…` run the .ts source directly.
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./codec-worker.ts" : "./codec-worker.js", import.meta.url);

/**
 * Encoding, and the reading back of restored files, go to a worker from two cores up. Chunks are
 * sent in batches of about 1 MiB, so a message costs little against the compression it carries
 * (one message per chunk used to lose to the inline path on two cores). Decoding stays inline
 * below four cores: on two, with the worker busy reading restored files back, a decoding worker
 * measured no faster.
 */
function defaultCodecThreads(): CodecThreads {
  const cores = availableParallelism();
  return { encode: cores >= 2 ? Math.min(4, cores - 1) : 0, decode: cores >= 4 ? Math.min(4, cores - 1) : 0 };
}

export function createCodec(keys: RepoKeys, threads: number | CodecThreads = defaultCodecThreads()): BlobCodec {
  const t = typeof threads === "number" ? { encode: threads, decode: threads } : threads;
  const count = Math.max(t.encode, t.decode);
  const workers = count > 0 ? new WorkerPool(keys, count) : undefined;
  return {
    threads: count,
    ...(t.encode > 0 && workers
      ? {
          encodeBatch: (input: Buffer, items: BatchItem[], spare?: Buffer) => workers.encodeBatch(input, items, spare),
          encodeBacklog: () => workers.encodeBacklog(),
          warm: () => workers.warm(),
          verifyFiles: (items: VerifyItem[]) => workers.verifyFiles(items),
          writeRange: (bytes: Uint8Array, blobs: BlobSlice[], places: Placement[][], where: string, movable: boolean) => workers.writeRange(bytes, blobs, places, where, movable),
          writeDeltas: (bytes: Buffer, items: SealedItem[], targets: number[], places: Placement[][]) => workers.writeDeltas(bytes, items, targets, places),
          hashGroups: (range: GroupHashRequest) => workers.hashGroups(range),
          workerUp: () => workers.up(),
        }
      : {}),
    decodeRange: t.decode > 0 && workers ? (bytes, blobs, where, arena) => workers.decodeRange(bytes, blobs, where, arena) : async (bytes, blobs, where, arena) => decodeSlices(keys, bytes, blobs, where, arena).plain,
    close: async () => workers?.close(),
  };
}

interface Pending {
  resolve(res: CodecResponse): void;
  reject(err: Error): void;
}

const owns = (v: Uint8Array) => v.byteOffset === 0 && v.byteLength === v.buffer.byteLength;
const asBuffer = (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Worker threads, started on first use (a commit that stores nothing never starts one). */
class WorkerPool {
  private workers: Worker[] | undefined;
  private load: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private readonly keys: RepoKeys;
  private readonly threads: number;
  /** Encode batches finished, one counter per worker, written by the workers. */
  private readonly encoded: Int32Array[];
  /** Set by each worker once it is listening, whatever this thread's event loop is doing. */
  private readonly listening = new Int32Array(new SharedArrayBuffer(4));
  private encodesSent = 0;

  constructor(keys: RepoKeys, threads: number) {
    this.keys = keys;
    this.threads = threads;
    this.encoded = Array.from({ length: threads }, () => new Int32Array(new SharedArrayBuffer(4)));
  }

  up(): boolean {
    return this.workers !== undefined && Atomics.load(this.listening, 0) > 0;
  }

  encodeBacklog(): number {
    return this.encodesSent - this.encoded.reduce((n, c) => n + Atomics.load(c, 0), 0);
  }

  async encodeBatch(input: Buffer, items: BatchItem[], spare?: Buffer): Promise<EncodedBatch> {
    const transfer = [input, ...(spare ? [spare] : [])].filter(owns).map((b) => b.buffer as ArrayBuffer);
    this.encodesSent++;
    const res = await this.send({ seq: 0, op: "encode", input, items, ...(spare ? { spare } : {}) }, transfer);
    return { sealed: asBuffer(res.sealed!), lengths: res.lengths!, deltas: res.deltas ?? [], input: asBuffer(res.input!) };
  }

  warm(): void {
    this.workers ??= this.start();
  }

  async verifyFiles(items: VerifyItem[]): Promise<void> {
    await this.send({ seq: 0, op: "verify", items }, []);
  }

  async writeRange(bytes: Uint8Array, blobs: BlobSlice[], places: Placement[][], where: string, movable: boolean): Promise<Buffer> {
    const res = await this.send({ seq: 0, op: "write", bytes, blobs, places, where }, movable || owns(bytes) ? [bytes.buffer as ArrayBuffer] : []);
    return asBuffer(res.input!);
  }

  async writeDeltas(bytes: Buffer, items: SealedItem[], targets: number[], places: Placement[][]): Promise<void> {
    await this.send({ seq: 0, op: "deltas", bytes, items, targets, places }, owns(bytes) ? [bytes.buffer as ArrayBuffer] : []);
  }

  async hashGroups(range: GroupHashRequest): Promise<Uint8Array> {
    const transfer = owns(range.overlayImages) && range.overlayImages.byteLength > 0 ? [range.overlayImages.buffer as ArrayBuffer] : [];
    return (await this.send({ seq: 0, op: "hashGroups", range }, transfer)).hashes!;
  }

  async decodeRange(bytes: Uint8Array, blobs: BlobSlice[], where: string, arena?: Buffer): Promise<Buffer[]> {
    // The arena goes to the worker and comes back holding the plaintexts (reused memory, see decodeSlices).
    const transfer = [bytes, ...(arena ? [arena] : [])].filter(owns).map((b) => b.buffer as ArrayBuffer);
    const res = await this.send({ seq: 0, op: "decode", bytes, blobs, where, ...(arena && owns(arena) ? { arena } : {}) }, transfer);
    return res.plain!.map(asBuffer);
  }

  private start(): Worker[] {
    Atomics.store(this.listening, 0, 0);
    const workers = Array.from({ length: this.threads }, (_, i) => new Worker(WORKER_URL, { workerData: { encryption: this.keys.encryption, id: this.keys.id, gear: this.keys.gear, encoded: this.encoded[i]!, listening: this.listening } }));
    this.load = workers.map(() => 0);
    workers.forEach((w, i) => {
      w.on("message", (res: CodecResponse) => this.settle(i, res));
      w.on("error", (err) => this.failAll(err));
      // After the listeners: adding a "message" listener refs the worker again, and a worker
      // started but not used yet (warm) then kept the process alive.
      w.unref();
    });
    return workers;
  }

  private send(request: CodecRequest, transfer: ArrayBuffer[]): Promise<CodecResponse> {
    const workers = (this.workers ??= this.start());
    const seq = this.seq++;
    const i = this.load.indexOf(Math.min(...this.load));
    this.load[i] = (this.load[i] ?? 0) + 1;
    if (this.load[i] === 1) workers[i]!.ref(); // keep the process alive only while work is queued
    return new Promise<CodecResponse>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      workers[i]!.postMessage({ ...request, seq }, transfer);
    });
  }

  private settle(worker: number, res: CodecResponse): void {
    const job = this.pending.get(res.seq);
    if (!job) return;
    this.pending.delete(res.seq);
    this.load[worker] = (this.load[worker] ?? 1) - 1;
    if (this.load[worker] === 0) this.workers?.[worker]!.unref();
    if (res.error) job.reject(fromWorkerFailure(res.error));
    else job.resolve(res);
  }

  private failAll(err: Error): void {
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all((this.workers ?? []).map((w) => w.terminate()));
    this.workers = undefined;
  }
}
