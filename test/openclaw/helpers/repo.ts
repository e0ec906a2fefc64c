// Reads a test gateway's repository from the test process, through the library.
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Repository, type SnapshotSummary } from "../../../src/lib.ts";

export async function snapshotsOf(url: string, passphrase: string, env?: Record<string, string>): Promise<SnapshotSummary[]> {
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-test-cache-"));
  try {
    const repo = await Repository.open(url, { passphrase, cacheDir, ...(env ? { backendOptions: { env } } : {}) });
    try {
      return (await repo.log()).sort((a, b) => a.time.localeCompare(b.time));
    } finally {
      await repo.close();
    }
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
}

/** Polls until `pred` holds for the repository's snapshots (the repository may not exist yet). */
export async function waitForSnapshots(url: string, passphrase: string, pred: (s: SnapshotSummary[]) => boolean, timeoutMs = 60_000, env?: Record<string, string>): Promise<SnapshotSummary[]> {
  const deadline = Date.now() + timeoutMs;
  let last: SnapshotSummary[] = [];
  let lastErr: unknown;
  for (;;) {
    try {
      last = await snapshotsOf(url, passphrase, env);
      if (pred(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`snapshots did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(last.map((s) => s.reason))} ${lastErr ? String(lastErr) : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
