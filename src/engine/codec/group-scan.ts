import { GroupHasher } from "../../chunker/group-hash.ts";
import { readAndHash, requestOverlay, type GroupHashRequest } from "../sqlite/page-reader.ts";

/** This thread's kernel instance; its memory is the read buffer (the bytes are hashed where they land). */
let hasher: GroupHasher | undefined;

/** Reads a range of a captured database's groups (see UnchangedGroups.scan) and returns their hashes, in order. */
export async function hashGroupRange(req: GroupHashRequest): Promise<Uint8Array> {
  if (req.dropped && Atomics.load(req.dropped.flags, req.dropped.index) === 1) return new Uint8Array(0);
  const capacity = GroupHasher.capacityFor(req.length, req.groupBytes);
  if (!hasher || hasher.input.byteLength < capacity) hasher = await GroupHasher.create(capacity);
  return readAndHash(hasher, req, requestOverlay(req)).slice();
}
