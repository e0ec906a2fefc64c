// Worker thread entry: PRAGMA quick_check on captured database copies, off the main thread
// (node:sqlite has no asynchronous queries, and the check reads every page: about 0.6 s for a
// 500 MB OpenClaw state's databases). Imported by nothing; started by sqlite-check.ts.
import { parentPort } from "node:worker_threads";
import { openPrivateCopy, type QuickCheckRequest, type QuickCheckResponse } from "./sqlite-check.ts";

function quickCheck(file: string): string[] {
  const db = openPrivateCopy(file);
  try {
    return db.prepare("PRAGMA quick_check(5)").all().map((r) => String(Object.values(r)[0]));
  } finally {
    db.close();
  }
}

parentPort?.on("message", (req: QuickCheckRequest) => {
  let res: QuickCheckResponse;
  try {
    res = { seq: req.seq, problems: quickCheck(req.file) };
  } catch (err) {
    res = { seq: req.seq, error: (err as Error).message };
  }
  parentPort!.postMessage(res);
});
