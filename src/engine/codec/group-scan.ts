import { GROUP_HASH_BYTES, GroupHasher } from "../../chunker/group-hash.ts";
import { readPages, requestOverlay, type GroupHashRequest } from "../sqlite/page-reader.ts";

/** This thread's kernel instance; its memory is the read buffer (the bytes are hashed where they land). */
let hasher: GroupHasher | undefined;

/** Reads a range of a captured database's groups (see UnchangedGroups.scan) and returns their hashes, in order. */
export async function hashGroupRange(req: GroupHashRequest): Promise<Uint8Array> {
  if (req.dropped && Atomics.load(req.dropped.flags, req.dropped.index) === 1) return new Uint8Array(0);
  // The hashes go after the bytes, at the next multiple of 8.
  const out = Math.ceil(req.length / 8) * 8;
  const hashBytes = Math.ceil(req.length / req.groupBytes) * GROUP_HASH_BYTES;
  if (!hasher || hasher.input.byteLength < out + hashBytes) hasher = await GroupHasher.create(out + hashBytes);
  readPages(req.fd, req.pageSize, req.position, req.length, hasher.input, requestOverlay(req), req.where);
  hasher.hashGroupsAt(0, req.length, req.groupBytes, req.seed, out);
  return hasher.input.slice(out, out + hashBytes);
}
