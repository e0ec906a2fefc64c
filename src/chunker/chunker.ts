// Chunker: splits bytes into content-defined chunks with the FastCDC 2020 kernel.
//
// Cut points depend only on the bytes, the parameters and the gear table, never on how the input
// was split into pieces: the kernel cuts only when it holds maxSize bytes past the last cut (or the
// end of input), and a cut never looks further than that.

import { UsageError } from "../errors.ts";
import { checkGearTable, defaultGearTable } from "./gear.ts";
import { validateChunkerParams, type ChunkerParams } from "./params.ts";
import { CUT_CAPACITY, ScanWindow } from "./window.ts";

/** One cut of an in-memory buffer. */
export interface ChunkCut {
  offset: number;
  length: number;
  /** The gear hash at the cut: what the `fastcdc` crate reports as the chunk's hash. */
  hash: bigint;
}

/**
 * The pieces of a byte stream, in order: read as they come (a file stream) or already in hand (a
 * whole file, a listing written in blocks).
 */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export class Chunker {
  readonly params: ChunkerParams;
  readonly #window: ScanWindow;
  /**
   * The run (cut call or chunks stream) that owns the window. A new run takes it over; a stream
   * that was overtaken fails on its next step instead of yielding corrupt chunks.
   */
  #owner: object | null = null;

  private constructor(params: ChunkerParams, window: ScanWindow) {
    this.params = params;
    this.#window = window;
  }

  /**
   * A chunker with its own kernel instance. `gear` defaults to the `fastcdc` crate's table; a
   * repository passes gearTableFromKey(its key). Throws ConfigError for a bad parameter, UsageError
   * for a bad gear table.
   */
  static async create(params: ChunkerParams, gear?: BigUint64Array): Promise<Chunker> {
    const valid = validateChunkerParams(params);
    const table = gear ?? defaultGearTable();
    checkGearTable(table);
    return new Chunker(valid, await ScanWindow.create(valid, table));
  }

  /**
   * Cut points of a whole in-memory buffer (lengths of each chunk, in order). Synchronous (roughly
   * 0.3 to 0.5 ms per MB here), so keep very large buffers off the event loop.
   */
  cut(data: Uint8Array): number[] {
    const lengths: number[] = [];
    this.#cutWhole(data, (length) => lengths.push(length));
    return lengths;
  }

  /** Offset, length and gear hash of each chunk of a whole in-memory buffer. */
  cutWithHashes(data: Uint8Array): ChunkCut[] {
    const cuts: ChunkCut[] = [];
    let offset = 0;
    this.#cutWhole(data, (length, hash) => {
      cuts.push({ offset, length, hash: hash() });
      offset += length;
    });
    return cuts;
  }

  /**
   * Splits a byte stream into chunks; each yielded Uint8Array is owned by the caller (safe to keep).
   * Memory stays at one window whatever the stream's length. Each piece is copied in before the
   * next is requested, so a source may refill one buffer. One stream at a time per Chunker: a
   * second use takes the Chunker over and the first stream then fails with UsageError.
   */
  chunks(source: ByteSource): AsyncGenerator<Uint8Array> {
    return this.#stream(source, (window, length) => window.take(length));
  }

  /**
   * Like chunks(), but each chunk is a view of the chunker's window, valid only until the next
   * one is asked for: no copy and no allocation per chunk. For consumers that are done with a
   * chunk before they ask for the next (hashing it, or storing it through a BlobWriter, which
   * encodes or copies it before it returns). Copying every chunk out was a tenth of a first
   * commit's main-thread time.
   */
  chunkViews(source: ByteSource): AsyncGenerator<Uint8Array> {
    return this.#stream(source, (window, length) => window.view(length));
  }

  async *#stream(source: ByteSource, out: (window: ScanWindow, length: number) => Uint8Array): AsyncGenerator<Uint8Array> {
    const run = this.#claim();
    const window = this.#window;
    for await (const piece of source) {
      this.#checkOwner(run);
      checkPiece(piece);
      let from = 0;
      while (from < piece.length) {
        if (window.space === 0) {
          for (let n = CUT_CAPACITY; n === CUT_CAPACITY; ) {
            n = window.scan(false);
            for (let i = 0; i < n; i++) {
              yield out(window, window.lengthOf(i));
              this.#checkOwner(run);
            }
          }
          window.compact();
        }
        from += window.append(piece, from);
      }
    }
    this.#checkOwner(run);
    for (let n = CUT_CAPACITY; n === CUT_CAPACITY; ) {
      n = window.scan(true);
      for (let i = 0; i < n; i++) {
        yield out(window, window.lengthOf(i));
        this.#checkOwner(run);
      }
    }
    this.#owner = null;
  }

  /** Runs the kernel over `data`, calling `visit` for each chunk; `hash()` reads that chunk's hash. */
  #cutWhole(data: Uint8Array, visit: (length: number, hash: () => bigint) => void): void {
    checkPiece(data);
    this.#claim();
    const window = this.#window;
    const drain = (final: boolean): void => {
      for (let n = CUT_CAPACITY; n === CUT_CAPACITY; ) {
        n = window.scan(final);
        for (let i = 0; i < n; i++) {
          const length = window.lengthOf(i);
          visit(length, () => window.hashOf(i));
          window.skip(length);
        }
      }
    };
    let from = 0;
    while (from < data.length) {
      if (window.space === 0) {
        drain(false);
        window.compact();
      }
      from += window.append(data, from);
    }
    drain(true);
    this.#owner = null;
  }

  #claim(): object {
    const run = {};
    this.#owner = run;
    this.#window.reset();
    return run;
  }

  #checkOwner(run: object): void {
    if (this.#owner !== run) {
      throw new UsageError(
        "this Chunker was used for another input while a chunks() stream was still reading; use one Chunker per concurrent stream",
      );
    }
  }
}

function checkPiece(piece: unknown): asserts piece is Uint8Array {
  if (!(piece instanceof Uint8Array)) {
    throw new UsageError(`chunker input must be Uint8Array pieces, got ${piece === null ? "null" : typeof piece}`);
  }
}
