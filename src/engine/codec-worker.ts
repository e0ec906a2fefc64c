// Worker thread entry: the CPU-heavy half of commit (compress, seal) and checkout (open,
// decompress, re-derive ids), off the main thread. Imported by nothing; started by codec-pool.ts.
import { parentPort, workerData } from "node:worker_threads";
import { encodeBlob } from "../repo/blob.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { IntegrityError } from "../errors.ts";
import { decodeSlices, type CodecRequest, type CodecResponse } from "./codec-protocol.ts";

/** Buffers that own their whole ArrayBuffer can be moved to the other thread without a copy. */
function movable(views: Uint8Array[]): ArrayBuffer[] {
  return views.filter((v) => v.byteOffset === 0 && v.byteLength === v.buffer.byteLength).map((v) => v.buffer as ArrayBuffer);
}

function serve(port: NonNullable<typeof parentPort>, raw: { encryption: Uint8Array; id: Uint8Array; gear: Uint8Array }): void {
  const keys: RepoKeys = { encryption: Buffer.from(raw.encryption), id: Buffer.from(raw.id), gear: Buffer.from(raw.gear) };
  port.on("message", (req: CodecRequest) => handle(port, keys, req));
}

function handle(port: NonNullable<typeof parentPort>, keys: RepoKeys, req: CodecRequest): void {
  try {
    if (req.op === "encode") {
      const sealed = encodeBlob(keys, req.type, req.data, req.id).sealed;
      port.postMessage({ seq: req.seq, sealed } satisfies CodecResponse, movable([sealed]));
    } else {
      const { arena, plain } = decodeSlices(keys, req.bytes, req.blobs, req.where);
      port.postMessage({ seq: req.seq, plain } satisfies CodecResponse, [arena.buffer as ArrayBuffer]);
    }
  } catch (err) {
    const error = err instanceof IntegrityError ? { message: err.message, integrity: { object: err.object } } : { message: (err as Error).message };
    port.postMessage({ seq: req.seq, error } satisfies CodecResponse);
  }
}

if (parentPort && workerData) serve(parentPort, workerData as { encryption: Uint8Array; id: Uint8Array; gear: Uint8Array });
