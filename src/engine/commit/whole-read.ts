import { closeSync, openSync, readSync, constants as fsConstants } from "node:fs";

/**
 * Reads small files whole, synchronously, into one buffer reused from file to file.
 *
 * A state folder is thousands of small files. Read through node's promise API each costs four
 * trips through the thread pool (open, fstat, read, close) and the promises around them; on the
 * 6,300 small files of the bench state that was 0.35–0.43 s and 0.6–0.7 s of CPU, reading 16
 * files ahead, against 0.10 s for the same reads made here (warm page cache). With a cold page
 * cache the reads no longer overlap one another, which measured no slower here (first commit
 * after dropping the caches: 6.85–7.09 s, against 6.36–8.02 s reading ahead); later commits read
 * only the files that changed, which were just written. A fresh buffer per file also made
 * garbage, which holds the resident set up (see docs/design.md, "Dead per-blob buffers").
 */
export class WholeFileReader {
  private buffer = Buffer.allocUnsafeSlow(64 * 1024);

  /**
   * The file's bytes, as a view of the reused buffer that is valid until the next read. Reads at
   * most `size` + 1 bytes, so a file that grew since it was statted comes back longer than its
   * stat said (the caller's size check then sees the change) without reading all of it.
   */
  read(absPath: string, size: number): Buffer {
    if (this.buffer.byteLength < size + 1) this.buffer = Buffer.allocUnsafeSlow(size + 1);
    const fd = openSync(absPath, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    try {
      let got = 0;
      for (;;) {
        const n = readSync(fd, this.buffer, got, size + 1 - got, null);
        if (n === 0) break;
        got += n;
        if (got === size + 1) break;
      }
      return this.buffer.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }
}
