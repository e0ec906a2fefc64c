import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { LockedError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { LOCKS_PREFIX, lockKey, idOf } from "./layout.ts";
import { openJson, sealJson } from "./sealed-json.ts";

interface LockRecord {
  host: string;
  pid: number;
  time: string;
  exclusive: boolean;
  purpose: string;
}

/** A lock older than this without a refresh is treated as left behind by a crashed process. */
const STALE_LOCK_MS = 30 * 60 * 1000;
const REFRESH_MS = 5 * 60 * 1000;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Commits take shared locks, prune takes an exclusive one (invariant 4: prune never deletes data
 * a commit in progress may reference). The lock is written first, then the others are listed, so
 * two processes racing each see the other and one backs off.
 */
export async function acquireLock(backend: Backend, keys: RepoKeys, exclusive: boolean, purpose: string): Promise<HeldLock> {
  let id = randomBytes(16).toString("hex");
  const write = async (lockId: string) => {
    const record: LockRecord = { host: hostname(), pid: process.pid, time: new Date().toISOString(), exclusive, purpose };
    await backend.put(lockKey(lockId), sealJson(keys.encryption, "lock", record));
  };
  await write(id);
  try {
    for await (const obj of backend.list(LOCKS_PREFIX)) {
      const otherId = idOf(obj.key);
      if (otherId === id) continue;
      let other: LockRecord;
      try {
        other = openJson<LockRecord>(keys.encryption, "lock", await backend.get(obj.key), obj.key);
      } catch {
        continue; // an unreadable lock (another repository key, a torn write) cannot block us
      }
      if (Date.now() - Date.parse(other.time) > STALE_LOCK_MS) continue;
      if (exclusive || other.exclusive) {
        throw new LockedError(`repository is locked by ${other.purpose} (pid ${other.pid} on ${other.host} since ${other.time}); try again later`);
      }
    }
  } catch (err) {
    await backend.delete(lockKey(id));
    throw err;
  }
  const timer = setInterval(() => {
    const next = randomBytes(16).toString("hex");
    void write(next).then(() => backend.delete(lockKey(id))).then(() => { id = next; }).catch(() => {});
  }, REFRESH_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await backend.delete(lockKey(id));
    },
  };
}
