// Messages between the codec pool and its worker threads, and the decode step both sides run.
import { decodeBlob, type BlobType } from "../repo/blob.ts";
import type { RepoKeys } from "../crypto/keys.ts";

export interface BlobSlice {
  id: string;
  /** Offset of the sealed blob within the buffer sent. */
  offset: number;
  length: number;
}

export type CodecRequest =
  | { seq: number; op: "encode"; type: BlobType; id: string; data: Uint8Array }
  | { seq: number; op: "decode"; bytes: Uint8Array; blobs: BlobSlice[]; where: string };

export interface CodecResponse {
  seq: number;
  sealed?: Uint8Array;
  plain?: Uint8Array[];
  error?: { message: string; integrity?: { object: string } };
}

/** Decodes every blob of a fetched pack range; shared with the inline (no worker) path. */
export function decodeSlices(k: RepoKeys, bytes: Uint8Array, blobs: BlobSlice[], where: string): Buffer[] {
  return blobs.map((b) => decodeBlob(k, b.id, bytes.subarray(b.offset, b.offset + b.length), where));
}
