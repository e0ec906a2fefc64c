import { IntegrityError } from "../../errors.ts";
import type { RepoKeys } from "../../crypto/keys.ts";
import { decodeHeldDeltas, type SealedItem } from "../codec/held-deltas.ts";
import type { Placement } from "../codec/placed-writes.ts";
import { afterBlobs } from "../codec/young-gc.ts";

/** A blob a checkout decodes here rather than on a codec worker: a delta, or the base of one. */
export interface HeldBlob {
  id: string;
  /** Set for a delta: the blob whose plaintext decodes it. */
  base?: string;
  rawLength: number;
  /** Where a delta's plaintext goes (a base's own places, if any, are written with its range). */
  places: Placement[];
}

/** Deltas decoded together, ready to be written: `plains[i]` goes to `blobs[i].places`. */
export interface DeltaBatch {
  blobs: HeldBlob[];
  plains: Buffer[];
}

/** Deltas taken together, not decoded yet: `items` in `bytes`, `targets[i]` the item of `blobs[i]`. */
export interface SealedDeltas {
  blobs: HeldBlob[];
  bytes: Buffer;
  items: SealedItem[];
  targets: number[];
}

/**
 * Decodes a checkout's deltas from the same range reads as every other blob (issue 17: reading
 * deltas and their bases apart from the ranges read some pack bytes twice, 1.18× the needed bytes
 * on a three-day history). Each range hands over the sealed bytes of the deltas and bases it
 * holds (`take`, a copy: the range's buffer is reused); a delta whose base chain has arrived is
 * ready, and `next` decodes ready ones a window at a time. Sealed bytes are dropped once nothing
 * still needs them, so what stays is only what waits for its other half: the caller reads the
 * ranges holding deltas first, so that is mostly small deltas waiting for their bases.
 */
export class DeltaAssembler {
  private readonly keys: RepoKeys;
  private readonly blobs: Map<string, HeldBlob>;
  /** Sealed bytes taken and still needed, with the object they came from (for error messages). */
  private readonly sealed = new Map<string, { bytes: Buffer; where: string }>();
  /** Per blob, the held deltas decoded against it directly. */
  private readonly dependents = new Map<string, string[]>();
  /** Per blob, how many of those have not been dropped yet. */
  private readonly users = new Map<string, number>();
  private readonly ready: HeldBlob[] = [];
  private readonly queued = new Set<string>();
  private decodedCount = 0;
  private readonly toDecode: number;
  /** Sealed bytes held right now, and the most ever held (for the bench's notes). */
  heldBytes = 0;
  peakHeldBytes = 0;

  private readonly maxHeld: number;
  /** Blobs not held for want of room: the deltas that need them are left to `leftovers`. */
  private readonly missed = new Set<string>();

  /**
   * `held`: every delta to write and every blob some delta is decoded against, transitively.
   * `maxHeld`: most sealed bytes held at once (invariant 6: a large database's deltas must not
   * all wait in memory); a blob that finds no room is not held, and the deltas that need it are
   * read again apart at the end (`leftovers`), which costs bytes read twice only past that bound.
   */
  constructor(keys: RepoKeys, held: Iterable<HeldBlob>, maxHeld = Infinity) {
    this.keys = keys;
    this.maxHeld = maxHeld;
    this.blobs = new Map([...held].map((b) => [b.id, b]));
    for (const b of this.blobs.values()) {
      if (!b.base) continue;
      if (!this.blobs.has(b.base)) throw new IntegrityError(`blob ${b.id}`, `its base ${b.base} is not among the blobs the checkout reads`);
      this.dependents.set(b.base, [...(this.dependents.get(b.base) ?? []), b.id]);
      this.users.set(b.base, (this.users.get(b.base) ?? 0) + 1);
    }
    this.toDecode = [...this.blobs.values()].filter((b) => b.base && b.places.length > 0).length;
  }

  /** Whether a range's blob is one to hand over. */
  holds(id: string): boolean {
    return this.blobs.has(id);
  }

  /** Plaintext bytes of deltas ready to decode. */
  readyBytes = 0;

  /** Deltas not yet decoded (0 once every range is taken means none was left without its base). */
  get waiting(): number {
    return this.toDecode - this.decodedCount;
  }

  /** Keeps a copy of a held blob's sealed bytes, out of a range read from `where`. */
  take(id: string, bytes: Uint8Array, where: string): void {
    if (this.sealed.has(id) || !this.blobs.has(id) || this.missed.has(id)) return;
    if (this.heldBytes + bytes.byteLength > this.maxHeld) {
      this.missed.add(id);
      return;
    }
    this.sealed.set(id, { bytes: Buffer.copyBytesFrom(bytes), where });
    this.heldBytes += bytes.byteLength;
    this.peakHeldBytes = Math.max(this.peakHeldBytes, this.heldBytes);
    this.markReady(id);
  }

  /** Decodes ready deltas, about `windowBytes` of plaintext (at least one), in the order they became ready. */
  next(windowBytes: number): DeltaBatch {
    const batch = this.nextSealed(windowBytes);
    const plains = decodeHeldDeltas(this.keys, batch.bytes, batch.items, batch.targets);
    afterBlobs(batch.blobs.reduce((n, b) => n + b.rawLength, 0));
    return { blobs: batch.blobs, plains };
  }

  /**
   * Ready deltas as next() takes them, not decoded: their sealed bytes and their bases', each
   * once, copied side by side into one buffer of their own (so it can be moved to a codec worker,
   * which decodes them with decodeHeldDeltas). What no other delta needs any more is dropped here.
   */
  nextSealed(windowBytes: number): SealedDeltas {
    const blobs: HeldBlob[] = [];
    let bytes = 0;
    while (this.ready.length > 0 && (blobs.length === 0 || bytes < windowBytes)) {
      const b = this.ready.shift()!;
      blobs.push(b);
      bytes += b.rawLength;
    }
    this.readyBytes -= bytes;
    // Each delta's chain of bases, bases before the deltas decoded against them, each blob once.
    const order: string[] = [];
    const seen = new Set<string>();
    const add = (id: string): void => {
      if (seen.has(id)) return;
      seen.add(id);
      const base = this.blobs.get(id)!.base;
      if (base !== undefined) add(base);
      order.push(id);
    };
    for (const b of blobs) add(b.id);
    const out = Buffer.allocUnsafeSlow(order.reduce((n, id) => n + this.sealed.get(id)!.bytes.byteLength, 0));
    let at = 0;
    const items: SealedItem[] = order.map((id) => {
      const { bytes: sealed, where } = this.sealed.get(id)!;
      const blob = this.blobs.get(id)!;
      sealed.copy(out, at);
      at += sealed.byteLength;
      return { id, offset: at - sealed.byteLength, length: sealed.byteLength, rawLength: blob.rawLength, where, ...(blob.base !== undefined ? { base: blob.base } : {}) };
    });
    const index = new Map(order.map((id, i) => [id, i]));
    const targets = blobs.map((b) => index.get(b.id)!);
    for (const b of blobs) {
      this.decodedCount++;
      this.done(b.id);
    }
    return { blobs, bytes: out, items, targets };
  }

  /**
   * The deltas still to write once every range was taken (those that needed a blob that found no
   * room), for the caller to read apart; everything held is dropped.
   */
  leftovers(): HeldBlob[] {
    const left = [...this.blobs.values()].filter((b) => b.base && b.places.length > 0 && !this.queued.has(b.id));
    this.sealed.clear();
    this.heldBytes = 0;
    this.decodedCount += left.length;
    return left;
  }

  /** Queues `id` and the deltas above it that are now decodable. */
  private markReady(id: string): void {
    if (!this.decodable(id)) return;
    const blob = this.blobs.get(id)!;
    if (blob.base && blob.places.length > 0 && !this.queued.has(id)) {
      this.queued.add(id);
      this.ready.push(blob);
      this.readyBytes += blob.rawLength;
    }
    for (const d of this.dependents.get(id) ?? []) this.markReady(d);
  }

  private decodable(id: string): boolean {
    for (let cur: string | undefined = id; cur !== undefined; cur = this.blobs.get(cur)!.base) {
      if (!this.sealed.has(cur)) return false;
    }
    return true;
  }

  /** A delta was written: drops its sealed bytes when no other delta needs them, then its base's likewise. */
  private done(id: string): void {
    let cur: string | undefined = id;
    while (cur !== undefined && (this.users.get(cur) ?? 0) === 0) {
      const entry = this.sealed.get(cur);
      if (!entry) return;
      this.sealed.delete(cur);
      this.heldBytes -= entry.bytes.byteLength;
      const base: string | undefined = this.blobs.get(cur)!.base;
      if (base === undefined) return;
      const left = this.users.get(base)! - 1;
      this.users.set(base, left);
      cur = base;
    }
  }
}
