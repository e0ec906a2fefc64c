// Leave a WAL-mode SQLite database on disk the way a running OpenClaw gateway leaves it: the main
// file partly checkpointed, a `-wal` file holding the newest committed frames, and a `-shm` index.
//
// Two things stand in the way and are handled here:
// - Closing the last connection checkpoints the WAL into the main file and deletes `-wal`/`-shm`.
//   So the files are copied aside while the connection is still open (nothing is mid-transaction:
//   the generator is the only writer), the connection is closed, and the copies are put back.
// - SQLite stamps each WAL generation with random salts (and the frame checksums chain from them),
//   which would make the same operations produce different bytes. The WAL is rewritten with salts
//   derived from a caller-given label, its checksums are recomputed, and frames past the last valid
//   commit (stale frames of an older generation) are dropped. The `-shm` index is then rebuilt by
//   SQLite itself (WAL recovery on open), from that deterministic WAL.

import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

function cksum(buf: Buffer, start: number, end: number, bigEndian: boolean, s: [number, number]): void {
  let s0 = s[0];
  let s1 = s[1];
  for (let i = start; i < end; i += 8) {
    const x0 = bigEndian ? buf.readUInt32BE(i) : buf.readUInt32LE(i);
    const x1 = bigEndian ? buf.readUInt32BE(i + 4) : buf.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  s[0] = s0;
  s[1] = s1;
}

/**
 * Rewrite a WAL file with deterministic salts. Keeps only the frames up to the last commit frame
 * whose checksum chain is valid (what recovery would use). Returns the number of frames kept.
 */
function normalizeWal(walPath: string, label: string): number {
  const buf = readFileSync(walPath);
  if (buf.length < WAL_HEADER) {
    writeFileSync(walPath, Buffer.alloc(0));
    return 0;
  }
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) throw new Error(`${walPath}: not a WAL file`);
  const bigEndian = (magic & 1) === 1;
  const pageSize = buf.readUInt32BE(8);
  const frameSize = FRAME_HEADER + pageSize;
  const salt1 = buf.readUInt32BE(16);
  const salt2 = buf.readUInt32BE(20);

  // Walk the original chain to find the valid committed prefix.
  const s: [number, number] = [0, 0];
  cksum(buf, 0, 24, bigEndian, s);
  if (s[0] !== buf.readUInt32BE(24) || s[1] !== buf.readUInt32BE(28)) {
    writeFileSync(walPath, Buffer.alloc(0));
    return 0;
  }
  let lastCommit = 0;
  for (let f = 0; WAL_HEADER + (f + 1) * frameSize <= buf.length; f++) {
    const off = WAL_HEADER + f * frameSize;
    if (buf.readUInt32BE(off + 8) !== salt1 || buf.readUInt32BE(off + 12) !== salt2) break;
    cksum(buf, off, off + 8, bigEndian, s);
    cksum(buf, off + FRAME_HEADER, off + frameSize, bigEndian, s);
    if (s[0] !== buf.readUInt32BE(off + 16) || s[1] !== buf.readUInt32BE(off + 20)) break;
    if (buf.readUInt32BE(off + 4) !== 0) lastCommit = f + 1;
  }

  const out = Buffer.from(buf.subarray(0, WAL_HEADER + lastCommit * frameSize));
  const h = createHash("sha256").update(`wal-salt:${label}:${out.readUInt32BE(12)}`).digest();
  const n1 = h.readUInt32BE(0);
  const n2 = h.readUInt32BE(4);
  out.writeUInt32BE(n1, 16);
  out.writeUInt32BE(n2, 20);
  const t: [number, number] = [0, 0];
  cksum(out, 0, 24, bigEndian, t);
  out.writeUInt32BE(t[0], 24);
  out.writeUInt32BE(t[1], 28);
  for (let f = 0; f < lastCommit; f++) {
    const off = WAL_HEADER + f * frameSize;
    out.writeUInt32BE(n1, off + 8);
    out.writeUInt32BE(n2, off + 12);
    cksum(out, off, off + 8, bigEndian, t);
    cksum(out, off + FRAME_HEADER, off + frameSize, bigEndian, t);
    out.writeUInt32BE(t[0], off + 16);
    out.writeUInt32BE(t[1], off + 20);
  }
  writeFileSync(walPath, lastCommit > 0 ? out : Buffer.alloc(0));
  return lastCommit;
}

/**
 * Close `db` (open on `path`, WAL mode, no transaction open) but leave `path`, `path-wal` and
 * `path-shm` on disk as a live gateway would, with deterministic bytes. `label` seeds the salts.
 */
export function closeLeavingWal(db: DatabaseSync, path: string, label: string): void {
  const wal = `${path}-wal`;
  const shm = `${path}-shm`;
  const keepDb = `${path}.keep`;
  const keepWal = `${wal}.keep`;
  copyFileSync(path, keepDb);
  const hadWal = existsSync(wal);
  if (hadWal) copyFileSync(wal, keepWal);
  db.close();
  copyFileSync(keepDb, path);
  rmSync(keepDb);
  rmSync(shm, { force: true });
  if (!hadWal) {
    rmSync(wal, { force: true });
    return;
  }
  copyFileSync(keepWal, wal);
  rmSync(keepWal);
  const frames = normalizeWal(wal, label);
  if (frames === 0) {
    rmSync(wal, { force: true });
    return;
  }
  // Let SQLite rebuild the -shm index from the WAL (recovery on first read), copy it aside, and put
  // all three files back after the close that would otherwise checkpoint them away.
  const reader = new DatabaseSync(path);
  reader.prepare("SELECT count(*) AS n FROM sqlite_schema").get();
  copyFileSync(path, keepDb);
  copyFileSync(wal, keepWal);
  const keepShm = `${shm}.keep`;
  copyFileSync(shm, keepShm);
  reader.close();
  for (const [from, to] of [
    [keepDb, path],
    [keepWal, wal],
    [keepShm, shm],
  ] as const) {
    copyFileSync(from, to);
    rmSync(from);
  }
}
