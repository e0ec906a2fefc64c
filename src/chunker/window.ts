// The scan window: input bytes in kernel memory, filled by the reader and cut by the kernel.
//
// Bytes are copied in once (append) and each chunk out once (take). The only other copy is
// compact(), which moves the uncut tail (less than maxSize) to the front when the window is full;
// with a window of at least four maximum chunks that is a small fraction of the input.

import type { ChunkerParams } from "./params.ts";
import { normalizationMasks } from "./params.ts";
import { shiftedGearTable } from "./gear.ts";
import {
  CUT_CAPACITY,
  GEAR_ADDRESS,
  GEAR_LS_ADDRESS,
  HASHES_ADDRESS,
  LENGTHS_ADDRESS,
  WINDOW_ADDRESS,
  instantiateKernel,
  type KernelExports,
} from "./kernel.ts";

const MIN_WINDOW = 4 * 1024 * 1024;

/** Window size for given parameters: four maximum chunks, at least 4 MiB, in whole 64 KiB pages. */
export function windowSizeFor(params: ChunkerParams): number {
  const bytes = Math.max(MIN_WINDOW, 4 * params.maxSize);
  return Math.ceil(bytes / 65536) * 65536;
}

export class ScanWindow {
  readonly size: number;
  readonly #kernel: KernelExports;
  readonly #bytes: Uint8Array; // the window itself
  readonly #lengths: Uint32Array;
  readonly #hashes: BigUint64Array;
  /** Bytes of the window holding input. */
  #filled = 0;
  /** Bytes of the window already cut into chunks; the kernel scans [consumed, filled). */
  #consumed = 0;

  private constructor(kernel: KernelExports, memory: ArrayBuffer, size: number) {
    this.#kernel = kernel;
    this.size = size;
    this.#bytes = new Uint8Array(memory, WINDOW_ADDRESS, size);
    this.#lengths = new Uint32Array(memory, LENGTHS_ADDRESS, CUT_CAPACITY);
    this.#hashes = new BigUint64Array(memory, HASHES_ADDRESS, CUT_CAPACITY);
  }

  /** Params must already be valid, gear a 256-entry table. */
  static async create(params: ChunkerParams, gear: BigUint64Array): Promise<ScanWindow> {
    const size = windowSizeFor(params);
    const { exports, memory } = await instantiateKernel(size);
    new BigUint64Array(memory, GEAR_ADDRESS, 256).set(gear);
    new BigUint64Array(memory, GEAR_LS_ADDRESS, 256).set(shiftedGearTable(gear));
    const masks = normalizationMasks(params.avgSize, params.normalization);
    exports.configure(params.minSize, params.avgSize, params.maxSize, masks.small, masks.large);
    return new ScanWindow(exports, memory, size);
  }

  /** Forgets all input, for a new stream. */
  reset(): void {
    this.#filled = 0;
    this.#consumed = 0;
  }

  /** Room left for input. */
  get space(): number {
    return this.size - this.#filled;
  }

  /** Copies as much of `source` from `from` on as fits; returns how many bytes it copied. */
  append(source: Uint8Array, from: number): number {
    const count = Math.min(source.length - from, this.size - this.#filled);
    if (count <= 0) return 0;
    this.#bytes.set(
      from === 0 && count === source.length ? source : source.subarray(from, from + count),
      this.#filled,
    );
    this.#filled += count;
    return count;
  }

  /**
   * Cuts the uncut input; returns the number of chunks found, whose sizes lengthOf(0..n-1) gives.
   * Unless `final`, it leaves the last (less than maxSize) bytes for when more input arrives. A
   * result of CUT_CAPACITY means there may be more: take or skip these, then scan again.
   */
  scan(final: boolean): number {
    return this.#kernel.scan(
      WINDOW_ADDRESS + this.#consumed,
      WINDOW_ADDRESS + this.#filled,
      final ? 1 : 0,
      LENGTHS_ADDRESS,
      HASHES_ADDRESS,
      CUT_CAPACITY,
    );
  }

  /** Length of the i-th chunk of the last scan. */
  lengthOf(i: number): number {
    return this.#lengths[i]!;
  }

  /** Gear hash at the cut of the i-th chunk of the last scan (0 for a tail shorter than minSize). */
  hashOf(i: number): bigint {
    return this.#hashes[i]!;
  }

  /** Copies the next `length` uncut bytes out (the caller owns the copy) and marks them cut. */
  take(length: number): Uint8Array {
    const start = this.#consumed;
    this.#consumed += length;
    return this.#bytes.slice(start, start + length);
  }

  /**
   * The next `length` uncut bytes as a view of the window, marked cut: valid until the window is
   * next appended to or compacted.
   */
  view(length: number): Uint8Array {
    const start = this.#consumed;
    this.#consumed += length;
    return this.#bytes.subarray(start, start + length);
  }

  /** Marks the next `length` bytes cut without copying them. */
  skip(length: number): void {
    this.#consumed += length;
  }

  /** Moves the uncut bytes to the front, making room for more input. */
  compact(): void {
    if (this.#consumed === 0) return;
    this.#bytes.copyWithin(0, this.#consumed, this.#filled);
    this.#filled -= this.#consumed;
    this.#consumed = 0;
  }
}

export { CUT_CAPACITY };
