import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import * as path from "node:path";
import type { RepoKeys } from "../crypto/keys.ts";
import type { Chunker } from "../chunker/index.ts";
import type { FileStat } from "../index/cache.ts";
import { captureSqlite, pageGroups, readSqliteHeader } from "./sqlite-capture.ts";

export interface ReadContent {
  chunks: string[];
  size: number;
  sqlite: boolean;
}

/** Called for each chunk of content; returns the chunk's id (after storing it, or not). */
export type ChunkSink = (data: Uint8Array) => Promise<string>;

/** The file changed while it was being read. */
export class ChangedWhileReading extends Error {}

/** Stat fields that change whenever a file's content may have changed. */
export function statKey(st: BigIntStats): FileStat {
  return { size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
}

/**
 * A WAL-mode database can change while its main file's stat does not (the change sits in the
 * -wal file), so a database's stat key also covers its -wal sidecar.
 */
export async function databaseStatKey(absPath: string, st: BigIntStats): Promise<FileStat> {
  const base = statKey(st);
  const wal = await fs.stat(`${absPath}-wal`, { bigint: true }).catch(() => undefined);
  if (!wal) return base;
  return { ...base, mtimeNs: `${base.mtimeNs}+${wal.mtimeNs}`, ctimeNs: `${base.ctimeNs}+${wal.ctimeNs}:${wal.size}` };
}

export const sameStat = (a: FileStat, b: FileStat) => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;

export async function isDatabase(absPath: string): Promise<boolean> {
  return (await readSqliteHeader(absPath)) !== undefined;
}

/**
 * Reads one file into chunks. A database is captured through SQLite's backup API and cut at
 * page-group boundaries; anything else streams through FastCDC. A plain file whose stat changes
 * during the read throws ChangedWhileReading so the caller can try again.
 */
export async function readContent(absPath: string, before: BigIntStats, opts: { keys: RepoKeys; chunker: Chunker; groupPages: number; tmpDir: string; sink: ChunkSink }): Promise<ReadContent> {
  const header = await readSqliteHeader(absPath);
  if (header) {
    const copy = await captureSqlite(absPath, opts.tmpDir);
    try {
      return await consume(pageGroups(copy.file, copy.pageSize, opts.groupPages), opts, true);
    } finally {
      await fs.rm(copy.file, { force: true });
    }
  }
  const stream = createReadStream(absPath, { highWaterMark: 1024 * 1024 });
  const content = await consume(opts.chunker.chunks(stream as AsyncIterable<Uint8Array>), opts, false);
  const after = await fs.lstat(absPath, { bigint: true });
  if (!sameStat(statKey(before), statKey(after)) || content.size !== Number(after.size)) {
    throw new ChangedWhileReading(`${path.basename(absPath)} changed while it was read`);
  }
  return content;
}

async function consume(pieces: AsyncIterable<Uint8Array>, opts: { sink: ChunkSink }, sqlite: boolean): Promise<ReadContent> {
  const chunks: string[] = [];
  let size = 0;
  for await (const piece of pieces) {
    size += piece.byteLength;
    chunks.push(await opts.sink(piece));
  }
  return { chunks, size, sqlite };
}
