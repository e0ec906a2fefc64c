import { IntegrityError } from "../../errors.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { decodeBlob } from "../../repo/blob.ts";

/** One sealed blob of a delta batch: bytes[offset, offset + length) of the batch's buffer. */
export interface SealedItem {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  /** Set for a delta: the id of the item (earlier in the batch) whose plaintext decodes it. */
  base?: string;
  /** The object the sealed bytes came from (for error messages). */
  where: string;
}

/**
 * Decodes a batch of deltas with their bases, each base once however many deltas of the batch
 * need it, and returns the plaintexts of the items at `targets`, in that order. Shared by the
 * thread that assembled the batch and the codec worker it may be sent to (both cores decode
 * deltas: a thirtieth-day checkout restores thousands of database page groups as deltas).
 * Plaintexts are authenticated, not checked against their ids: a checkout reads every restored
 * file back (see decodeSlices).
 */
export function decodeHeldDeltas(keys: RepoKeys, bytes: Uint8Array, items: readonly SealedItem[], targets: readonly number[]): Buffer[] {
  const byId = new Map(items.map((item) => [item.id, item]));
  const plain = new Map<string, Buffer>();
  const plainOf = (item: SealedItem, depth: number): Buffer => {
    let data = plain.get(item.id);
    if (data) return data;
    if (depth > items.length) throw new IntegrityError(item.where, `blob ${item.id.slice(0, 16)}… is a delta in a cycle of bases`);
    const baseOf = (id: string) => {
      const base = id === item.base ? byId.get(id) : undefined;
      return base && plainOf(base, depth + 1);
    };
    data = decodeBlob(keys, item.id, bytes.subarray(item.offset, item.offset + item.length), item.where, { baseOf, checkId: false });
    if (data.byteLength !== item.rawLength) throw new IntegrityError(item.where, `blob ${item.id.slice(0, 16)}… is ${data.byteLength} bytes, the index says ${item.rawLength}`);
    plain.set(item.id, data);
    return data;
  };
  return targets.map((i) => plainOf(items[i]!, 0));
}
