// Reading a captured database state's pages by position: the file's bytes with the pages a WAL
// holds newer images of laid over them (wal-capture.ts). Runs on whichever thread reads: the
// commit's, for a group that changed, and the codec worker's, which hashes every group
// (unchanged-groups.ts, UnchangedGroups.scan). A worker shares the process's descriptors; it
// reads through the capture's and never closes one (wal-capture.ts says why that matters).

import { readSync } from "node:fs";
import { GroupHasher } from "../../chunker/group-hash.ts";
import { IntegrityError } from "../../errors.ts";

const DB_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/** A captured state readable by position: `fd` holds the pages that `overlay` does not. */
export interface PageSource {
  readonly fd: number;
  readonly pageSize: number;
  /** Pages of the state; the file may hold more (a WAL's commit shrank the database). */
  readonly pages: number;
  /** Newer images of some pages, by page number (from 1). */
  readonly overlay: ReadonlyMap<number, Uint8Array>;
  /** The database's path, for errors. */
  readonly where: string;
}

/** A range of a PageSource's groups to hash on another thread, with the overlay's pages it covers. */
export interface GroupHashRequest {
  fd: number;
  where: string;
  pageSize: number;
  /** Byte offset of the first group: a multiple of `groupBytes`. */
  position: number;
  length: number;
  groupBytes: number;
  /** The overlay's pages within the range, and their images back to back in that order. */
  overlayPages: number[];
  overlayImages: Uint8Array;
  seed: readonly [bigint, bigint];
  /**
   * Asked ahead of the scan (ScanAhead): the range is not read when `flags[index]` is 1 by the time
   * its turn comes (the scan hashed it on its own thread meanwhile); the answer is then empty.
   */
  dropped?: { flags: Int32Array; index: number };
}

/**
 * Reads `length` bytes of the state from byte `position` (both multiples of the page size) into
 * `into`. A page the file no longer has and the overlay does not hold means the pinned read did
 * not hold (or a private copy was cut short): an IntegrityError, never a short state.
 */
export function readPages(fd: number, pageSize: number, position: number, length: number, into: Uint8Array, overlay: (page: number) => Uint8Array | undefined, where: string): void {
  let filled = 0;
  while (filled < length) {
    const bytesRead = readSync(fd, into, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  for (let at = 0, page = position / pageSize + 1; at < length; at += pageSize, page++) {
    const image = overlay(page);
    if (image !== undefined) into.set(image, at);
    else if (at + pageSize > filled) throw new IntegrityError(where, `page ${page} vanished from the database file while a read pinned it`);
  }
  if (position === 0 && !Buffer.from(into.buffer, into.byteOffset, DB_MAGIC.length).equals(DB_MAGIC)) throw new IntegrityError(where, "page 1 of the captured state has no SQLite header");
}

/** What readAndHash reads: a range of a state's groups (a GroupHashRequest without its overlay). */
export type GroupRange = Pick<GroupHashRequest, "fd" | "where" | "pageSize" | "position" | "length" | "groupBytes" | "seed">;

/**
 * Reads a range of a state into `hasher`'s memory (see readPages) and hashes its groups there: the
 * bytes stay at hasher.input[0, length), and the hashes are returned as a view of the same memory
 * (GroupHasher.hashRange). The hasher needs GroupHasher.capacityFor(length, groupBytes).
 */
export function readAndHash(hasher: GroupHasher, range: GroupRange, overlay: (page: number) => Uint8Array | undefined): Uint8Array {
  readPages(range.fd, range.pageSize, range.position, range.length, hasher.input, overlay, range.where);
  return hasher.hashRange(range.length, range.groupBytes, range.seed);
}

/**
 * Makes the requests that hash the groups of `source` range by range, in order: each carries the
 * overlay's pages within its range (found by walking the overlay's page numbers once, sorted).
 */
export function groupHashRequests(source: PageSource, groupBytes: number, seed: readonly [bigint, bigint]): (position: number, length: number) => GroupHashRequest {
  const sorted = [...source.overlay.keys()].sort((a, b) => a - b);
  let next = 0;
  return (position, length) => {
    const first = position / source.pageSize + 1;
    const last = first + Math.ceil(length / source.pageSize) - 1;
    while (next < sorted.length && sorted[next]! < first) next++;
    const overlayPages: number[] = [];
    for (; next < sorted.length && sorted[next]! <= last; next++) overlayPages.push(sorted[next]!);
    const overlayImages = new Uint8Array(overlayPages.length * source.pageSize);
    overlayPages.forEach((page, i) => overlayImages.set(source.overlay.get(page)!, i * source.pageSize));
    return { fd: source.fd, where: source.where, pageSize: source.pageSize, position, length, groupBytes, overlayPages, overlayImages, seed };
  };
}

/** The overlay a GroupHashRequest carries, as readPages takes it. */
export function requestOverlay(req: GroupHashRequest): (page: number) => Uint8Array | undefined {
  if (req.overlayPages.length === 0) return () => undefined;
  const at = new Map(req.overlayPages.map((page, i) => [page, i * req.pageSize]));
  return (page) => {
    const offset = at.get(page);
    return offset === undefined ? undefined : req.overlayImages.subarray(offset, offset + req.pageSize);
  };
}
