import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Bytes of blobs encoded or decoded on a thread between two young-generation collections there.
 *
 * node's cipher and zstd calls return every result in a buffer of its own, which the codec copies
 * into a pack or a plaintext arena and drops at once. That memory lies outside V8's heap, and V8
 * only starts a collection for it once it has grown by 64 MB since the last one, per thread: up
 * to about 90 MB of a first commit's peak was such dead buffers. Their JavaScript objects are
 * young, so a young-generation collection (under a millisecond) frees them. First commit of the
 * bench state, peak resident set: 306–324 MB without these collections; with one every 16 MiB
 * 291–298, 8 MiB 274–299, 4 MiB 263–273, 2 MiB 269–272 (bench/README.md).
 */
export const COLLECT_EVERY = 4 * 1024 * 1024;

type Collect = (options: { type: "minor" }) => void;

let collect: Collect | null | undefined;
let since = 0;

/**
 * Counts `bytes` of blobs just encoded or decoded on this thread (each thread counts its own) and
 * collects the young generation every COLLECT_EVERY bytes.
 */
export function afterBlobs(bytes: number): void {
  since += bytes;
  if (since < COLLECT_EVERY) return;
  since = 0;
  collect ??= exposeCollect();
  collect?.({ type: "minor" });
}

/**
 * V8's own `gc` function. The flag only adds it to contexts made after it is set: this one, and
 * any the process makes later (a worker thread started afterwards has a global `gc`), but not the
 * context that is running, whose globals stay as they were.
 */
function exposeCollect(): Collect | null {
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    return typeof gc === "function" ? (gc as Collect) : null;
  } catch {
    return null; // a runtime without it: V8's own collections still free the buffers, later
  }
}
