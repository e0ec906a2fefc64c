// Worker thread: compresses and seals blobs, the CPU-heavy half of a commit, off the main thread.
import { parentPort, workerData } from "node:worker_threads";
import { encodeBlob, type BlobType } from "../repo/blob.ts";
import type { RepoKeys } from "../crypto/keys.ts";

export interface EncodeRequest {
  seq: number;
  type: BlobType;
  id: string;
  data: Uint8Array;
}

export interface EncodeResponse {
  seq: number;
  sealed?: Uint8Array;
  error?: string;
}

const raw = workerData as { encryption: Uint8Array; id: Uint8Array; gear: Uint8Array };
const keys: RepoKeys = { encryption: Buffer.from(raw.encryption), id: Buffer.from(raw.id), gear: Buffer.from(raw.gear) };

parentPort!.on("message", (req: EncodeRequest) => {
  try {
    const blob = encodeBlob(keys, req.type, req.data, req.id);
    const sealed = new Uint8Array(blob.sealed.buffer, blob.sealed.byteOffset, blob.sealed.byteLength);
    const response: EncodeResponse = { seq: req.seq, sealed };
    // Transfer only when the sealed bytes own their whole buffer (not a slice of Node's pool).
    const own = sealed.byteOffset === 0 && sealed.byteLength === sealed.buffer.byteLength;
    parentPort!.postMessage(response, own ? [sealed.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort!.postMessage({ seq: req.seq, error: (err as Error).message } satisfies EncodeResponse);
  }
});
