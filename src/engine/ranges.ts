/** A run of blobs read from a pack in one request: bytes [start, end) hold all of them. */
export interface Range<T> {
  start: number;
  end: number;
  blobs: T[];
}

/** Bytes [offset, offset + length) of a pack. */
export interface Span {
  offset: number;
  length: number;
}

/**
 * Blobs closer than this are fetched in one request (a restore, which reads nearly everything),
 * and no request exceeds MAX_RANGE.
 */
const MERGE_GAP = 256 * 1024;
export const MAX_RANGE: number = 4 * 1024 * 1024;

/**
 * Groups blobs of one pack, sorted by offset, into runs worth one range request each: few
 * requests (reads are the transactions B2 charges for) without fetching much that is not needed.
 * Sparse reads (a commit's delta bases, scattered over old packs) pass a smaller `gap`: with the
 * restore's, a bench day's commit downloaded 49 MB of packs for its bases.
 */
export function* mergeRanges<T extends { offset: number; length: number }>(sorted: readonly T[], gap = MERGE_GAP, avoid: readonly Span[] = []): Generator<Range<T>> {
  let current: Range<T> | undefined;
  for (const b of sorted) {
    const end = b.offset + b.length;
    // A gap is never bridged over bytes the caller has already read (a checkout's listing blobs).
    if (current && b.offset - current.end <= gap && end - current.start <= MAX_RANGE && !avoid.some((s) => s.offset >= current!.end && s.offset + s.length <= b.offset)) {
      current.end = Math.max(current.end, end);
      current.blobs.push(b);
    } else {
      if (current) yield current;
      current = { start: b.offset, end, blobs: [b] };
    }
  }
  if (current) yield current;
}

/**
 * The largest gap (at most MERGE_GAP) that a read of all these packs may bridge while the bytes it
 * reads for nothing stay within `budget` × the bytes it needs: the smallest gaps are bridged
 * first, as they save a request each for the fewest bytes. A checkout of an old snapshot, or of a
 * late one whose early packs hold many blobs later versions replaced, meets many gaps; with
 * MERGE_GAP alone, the thirtieth day of a 300 MB generated history read 1.26× the bytes it needed.
 */
export function gapWithin(packs: Iterable<readonly { offset: number; length: number }[]>, budget: number): number {
  const gaps: number[] = [];
  let needed = 0;
  for (const sorted of packs) {
    let end = -1;
    for (const b of sorted) {
      needed += b.length;
      if (end >= 0 && b.offset > end) gaps.push(b.offset - end);
      end = Math.max(end, b.offset + b.length);
    }
  }
  gaps.sort((a, b) => a - b);
  let spent = 0;
  let gap = 0;
  for (const g of gaps) {
    if (g > MERGE_GAP || spent + g > budget * needed) break;
    spent += g;
    gap = g;
  }
  return gap;
}
