import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { RepoKeys } from "../crypto/keys.ts";
import { encodeBlob, type BlobType, type EncodedBlob } from "../repo/blob.ts";
import type { EncodeRequest, EncodeResponse } from "./encode-worker.ts";

/** Compresses and seals blobs on worker threads; with no spare core, inline on the caller's thread. */
export interface BlobEncoder {
  encode(type: BlobType, data: Uint8Array, id: string): Promise<EncodedBlob>;
  close(): Promise<void>;
}

// Compiled output runs .js; tests and `node src/…` run the .ts source directly.
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./encode-worker.ts" : "./encode-worker.js", import.meta.url);

export function defaultEncoderThreads(): number {
  return Math.min(4, availableParallelism() - 1);
}

export function createEncoder(keys: RepoKeys, threads = defaultEncoderThreads()): BlobEncoder {
  if (threads <= 0) {
    return { encode: async (type, data, id) => encodeBlob(keys, type, data, id), close: async () => {} };
  }
  return new WorkerEncoder(keys, threads);
}

interface Pending {
  resolve(blob: EncodedBlob): void;
  reject(err: Error): void;
  type: BlobType;
  id: string;
  rawLength: number;
}

class WorkerEncoder implements BlobEncoder {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;

  constructor(keys: RepoKeys, threads: number) {
    const workerData = { encryption: keys.encryption, id: keys.id, gear: keys.gear };
    this.workers = Array.from({ length: threads }, () => new Worker(WORKER_URL, { workerData }));
    this.load = this.workers.map(() => 0);
    this.workers.forEach((w, i) => {
      w.unref();
      w.on("message", (res: EncodeResponse) => this.settle(i, res));
      w.on("error", (err) => this.failAll(err));
    });
  }

  encode(type: BlobType, data: Uint8Array, id: string): Promise<EncodedBlob> {
    const seq = this.seq++;
    const i = this.load.indexOf(Math.min(...this.load));
    const worker = this.workers[i]!;
    this.load[i] = (this.load[i] ?? 0) + 1;
    if (this.load[i] === 1) worker.ref(); // keep the process alive only while work is queued
    const rawLength = data.byteLength;
    const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const request: EncodeRequest = { seq, type, id, data };
    return new Promise<EncodedBlob>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, type, id, rawLength });
      // The caller hands the chunk over; transferring avoids a copy when it owns its buffer.
      worker.postMessage(request, own ? [data.buffer as ArrayBuffer] : []);
    });
  }

  private settle(worker: number, res: EncodeResponse): void {
    const job = this.pending.get(res.seq);
    if (!job) return;
    this.pending.delete(res.seq);
    this.load[worker] = (this.load[worker] ?? 1) - 1;
    if (this.load[worker] === 0) this.workers[worker]!.unref();
    if (res.error || !res.sealed) job.reject(new Error(res.error ?? "encoder returned nothing"));
    else job.resolve({ id: job.id, type: job.type, rawLength: job.rawLength, sealed: Buffer.from(res.sealed.buffer, res.sealed.byteOffset, res.sealed.byteLength) });
  }

  private failAll(err: Error): void {
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
