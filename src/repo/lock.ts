import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { LockedError, LockLostError, StorageAuthError } from "../errors.ts";
import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { LOCKS_PREFIX, lockKey, idOf } from "./layout.ts";
import { openJson, sealJson } from "./sealed-json.ts";
import { isGone, thisProcess } from "./process-identity.ts";

interface LockRecord {
  host: string;
  pid: number;
  /** The holder's start time and boot (see ProcessIdentity); absent in locks of older versions. */
  start?: string;
  boot?: string;
  time: string;
  exclusive: boolean;
  purpose: string;
}

/** A lock of another machine older than this without a refresh is treated as left behind by a crashed process. */
const STALE_LOCK_MS = 30 * 60 * 1000;
const REFRESH_MS = 5 * 60 * 1000;

export interface HeldLock {
  release(): Promise<void>;
  /** The stale locks of others that were deleted on the way (see staleReason). */
  readonly setAside: readonly LockInfo[];
  /**
   * Throws LockLostError when the lock no longer holds: another process removed it (set aside as
   * stale: this machine slept through STALE_LOCK_MS without a refresh; or `unlock --all`), or it
   * went that long unrefreshed and an exclusive lock is held now. A prune may then have deleted
   * packs this command wrote or reuses: a commit asks before it writes its manifest and its
   * snapshot record. One HEAD request while the lock is fresh.
   */
  assertHeld(): Promise<void>;
}

const REMOVED = "another process removed it: it went unrefreshed for over 30 minutes (was this machine asleep?), or 'clawback unlock --all' ran";

/** A lock found in the repository. */
export interface LockInfo {
  key: string;
  host: string;
  pid: number;
  time: string;
  exclusive: boolean;
  purpose: string;
  /** Why the lock no longer holds anything off, when it does not (see staleReason). */
  stale?: string;
  /** True when its process is known to be gone (not only silent for a long time). */
  holderGone: boolean;
}

/**
 * Why a lock is stale, or undefined while it holds. A lock of this machine whose process is gone
 * (no such pid, the pid now belongs to a process that started at another moment, or the machine
 * rebooted since) is stale at once: nothing can still be working under it. A lock of another
 * machine cannot be checked that way; it is stale once it has gone unrefreshed for STALE_LOCK_MS
 * (a live holder rewrites it every REFRESH_MS). Machines sharing a repository must have distinct
 * host names, or one could take another's live lock for a dead one of its own.
 */
function staleReason(lock: Pick<LockRecord, "host" | "pid" | "start" | "boot" | "time">, now = Date.now()): string | undefined {
  if (holderGone(lock)) return `its process (pid ${lock.pid} on this host) is gone`;
  const time = Date.parse(lock.time);
  if (!(now - time <= STALE_LOCK_MS)) return `not refreshed for over ${STALE_LOCK_MS / 60_000} minutes`;
  return undefined;
}

function holderGone(lock: Pick<LockRecord, "host" | "pid" | "start" | "boot">): boolean {
  return lock.host === hostname() && isGone({ pid: lock.pid, ...(lock.start ? { start: lock.start } : {}), ...(lock.boot ? { boot: lock.boot } : {}) });
}

function lockInfo(key: string, record: LockRecord): LockInfo {
  const stale = staleReason(record);
  return { key, host: record.host, pid: record.pid, time: record.time, exclusive: record.exclusive, purpose: record.purpose, ...(stale ? { stale } : {}), holderGone: holderGone(record) };
}

/**
 * Every lock in the repository, with its staleness. `unreadable`: keys of locks that do not open
 * with this repository's key (another repository's, a torn write); they never block anyone.
 */
export async function listLocks(backend: Backend, keys: RepoKeys): Promise<{ locks: LockInfo[]; unreadable: string[] }> {
  const locks: LockInfo[] = [];
  const unreadable: string[] = [];
  for await (const obj of backend.list(LOCKS_PREFIX)) {
    let record: LockRecord;
    try {
      record = openJson<LockRecord>(keys.encryption, "lock", await backend.get(obj.key), obj.key);
    } catch {
      unreadable.push(obj.key);
      continue;
    }
    locks.push(lockInfo(obj.key, record));
  }
  return { locks, unreadable };
}

/**
 * Commits take shared locks, prune takes an exclusive one (invariant 4: prune never deletes data
 * a commit in progress may reference). The lock is written first, then the others are listed, so
 * two processes racing each see the other and one backs off. Stale locks met on the way are
 * deleted (see staleReason).
 */
export async function acquireLock(backend: Backend, keys: RepoKeys, exclusive: boolean, purpose: string): Promise<HeldLock> {
  let id = randomBytes(16).toString("hex");
  const write = async (lockId: string) => {
    const record: LockRecord = { host: hostname(), ...thisProcess(), time: new Date().toISOString(), exclusive, purpose };
    await backend.put(lockKey(lockId), sealJson(keys.encryption, "lock", record));
  };
  await write(id);
  const setAside: LockInfo[] = [];
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
      const info = lockInfo(obj.key, other);
      if (info.stale !== undefined) {
        // Deleting it is only tidying: a failure here must not fail the command.
        await backend.delete(obj.key).catch(() => {});
        setAside.push(info);
        continue;
      }
      if (exclusive || other.exclusive) {
        throw new LockedError(`repository is locked by ${other.purpose} (pid ${other.pid} on ${other.host} since ${other.time}); try again later, or see 'clawback unlock'`);
      }
    }
  } catch (err) {
    await backend.delete(lockKey(id)).catch(() => {});
    throw err;
  }
  let lastWrite = Date.now();
  let lost: string | undefined;
  // Refreshes and checks run one at a time: each may replace the lock's object.
  let turn: Promise<void> = Promise.resolve();
  const inTurn = (step: () => Promise<void>): Promise<void> => {
    const run = turn.then(step);
    turn = run.catch(() => {});
    return run;
  };
  // A lock rewritten under a new name, the old one deleted after. A lock that went unrefreshed
  // long enough for others to set it aside (a sleeping machine) must still exist, and a shared one
  // must meet no exclusive lock once rewritten: a prune that listed the locks before the rewrite
  // saw only the stale one and went ahead.
  const refresh = async () => {
    if (lost) return;
    const mayBeSetAside = Date.now() - lastWrite >= STALE_LOCK_MS;
    if (!(await backend.head(lockKey(id)))) {
      lost = REMOVED;
      return;
    }
    const next = randomBytes(16).toString("hex");
    await write(next);
    const holder = mayBeSetAside && !exclusive ? (await listLocks(backend, keys)).locks.find((l) => l.exclusive && l.stale === undefined && idOf(l.key) !== next) : undefined;
    if (holder) {
      lost = `it went unrefreshed for over 30 minutes, and ${holder.purpose} (pid ${holder.pid} on ${holder.host}) took the repository meanwhile`;
      await backend.delete(lockKey(next)).catch(() => {});
      return;
    }
    lastWrite = Date.now();
    const old = id;
    id = next;
    await backend.delete(lockKey(old)).catch(() => {});
  };
  const timer = setInterval(() => void inTurn(refresh).catch(() => {}), REFRESH_MS);
  timer.unref();
  return {
    setAside,
    async assertHeld() {
      await inTurn(async () => {
        if (lost) return;
        if (Date.now() - lastWrite >= STALE_LOCK_MS) return refresh();
        if (!(await backend.head(lockKey(id)))) lost = REMOVED;
      });
      if (lost) throw new LockLostError(purpose, lost);
    },
    async release() {
      clearInterval(timer);
      await turn;
      await backend.delete(lockKey(id));
    },
  };
}

/**
 * A shared lock for a command that only reads packs (checkout, `check`): a prune elsewhere is then
 * refused while it reads, instead of rewriting or deleting the packs under it (which failed the
 * command with "object data/… not found", reading as damage). Credentials that may not write (a
 * read-only key) get no lock: the command runs unlocked, and `warn` says what that risks.
 */
export async function acquireReadLock(backend: Backend, keys: RepoKeys, purpose: string, warn: (message: string) => void): Promise<HeldLock> {
  try {
    return await acquireLock(backend, keys, false, purpose);
  } catch (err) {
    if (!(err instanceof StorageAuthError)) throw err;
    warn(`running without a lock: these credentials may not write to ${backend.location} (${err.message}); a prune that runs elsewhere meanwhile can make this ${purpose} fail, but not damage anything`);
    return { setAside: [], assertHeld: async () => {}, release: async () => {} };
  }
}

/**
 * Removes stale locks (`all`: every lock, live or not, and unreadable ones too: for a user who
 * knows no process of any machine is using the repository). Returns what was removed and what
 * was kept.
 */
export async function removeLocks(backend: Backend, keys: RepoKeys, opts: { all?: boolean } = {}): Promise<{ removed: LockInfo[]; kept: LockInfo[]; unreadable: string[] }> {
  const { locks, unreadable } = await listLocks(backend, keys);
  const removed = locks.filter((l) => opts.all || l.stale !== undefined);
  const kept = locks.filter((l) => !removed.includes(l));
  for (const l of removed) await backend.delete(l.key);
  if (opts.all) for (const key of unreadable) await backend.delete(key);
  return { removed, kept, unreadable };
}
