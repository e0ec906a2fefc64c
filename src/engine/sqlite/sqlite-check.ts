import { Worker } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { DatabaseSync } from "node:sqlite";

/**
 * Opens a private database file (a captured copy) read-only. Immutable: no locks are taken and no
 * -wal/-shm is made beside it.
 */
export function openPrivateCopy(file: string): DatabaseSync {
  const url = pathToFileURL(file);
  url.search = "mode=ro&immutable=1";
  return new DatabaseSync(url, { readOnly: true });
}

export interface QuickCheckRequest {
  seq: number;
  file: string;
}

export interface QuickCheckResponse {
  seq: number;
  problems?: string[];
  error?: string;
}

// Compiled output runs .js; tests and `node src/…` run the .ts source directly.
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./sqlite-check-worker.ts" : "./sqlite-check-worker.js", import.meta.url);

let worker: Worker | undefined;
let seq = 0;
const pending = new Map<number, { resolve(problems: string[]): void; reject(err: Error): void }>();

function started(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_URL);
  w.unref(); // referenced only while a check is pending
  w.on("message", (res: QuickCheckResponse) => {
    const job = pending.get(res.seq);
    if (!job) return;
    pending.delete(res.seq);
    if (pending.size === 0) w.unref();
    if (res.problems) job.resolve(res.problems);
    else job.reject(new Error(res.error ?? "quick_check failed"));
  });
  const fail = (err: Error) => {
    if (worker === w) worker = undefined;
    for (const job of pending.values()) job.reject(err);
    pending.clear();
  };
  w.on("error", fail);
  w.on("exit", (code) => fail(new Error(`quick_check worker exited (${code})`)));
  worker = w;
  return w;
}

/**
 * Runs `PRAGMA quick_check(5)` on a private database file (a captured copy) on a worker thread;
 * resolves with SQLite's answer lines (["ok"] for a sound file). Rejects when the file cannot be
 * opened or read as a database.
 */
export function quickCheck(file: string): Promise<string[]> {
  const w = started();
  const id = seq++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ seq: id, file } satisfies QuickCheckRequest);
  });
}
