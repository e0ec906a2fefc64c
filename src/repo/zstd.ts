import { constants as zc, createZstdCompress, createZstdDecompress, zstdCompressSync, zstdDecompressSync, type ZstdCompress, type ZstdDecompress } from "node:zlib";
import { CodecError } from "../errors.ts";

// node:zlib's one-shot zstd functions build and free a zstd context on every call. For the
// ~40,000 8 KiB database page groups of a 500 MB OpenClaw state that set-up costs more than the
// compression itself (measured on 15,600 groups, three runs: 0.8–2.1 s against 0.43–0.85 s through
// a kept context; decompression 0.55–0.85 s against 0.23–0.28 s). Node has no public API that keeps a context across
// frames, so this module drives the native handle of a zlib stream object synchronously, the
// way node's own one-shot functions do, one complete frame per call. If a future Node changes
// that internal shape, `keptContexts` turns false and the one-shot functions are used instead
// (slower, same bytes); a test asserts the fast path is live on the Node this project supports.

/** The native handle behind node's zstd streams (node:zlib internals, checked before use). */
interface NativeHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  /** init(params, pledgedSrcSize, writeState, writeCallback, dictionary): a new zstd context in place of the old one. */
  init(params: Uint32Array, pledgedSrcSize: number | undefined, writeState: Uint32Array, writeCallback: () => void, dictionary?: Uint8Array): void;
}

interface StreamInternals {
  _handle: NativeHandle | null;
  _writeState: Uint32Array;
}

function internalsOf(stream: ZstdCompress | ZstdDecompress): StreamInternals | undefined {
  const s = stream as unknown as Partial<StreamInternals>;
  if (typeof s._handle?.writeSync !== "function" || typeof s._handle.init !== "function" || !(s._writeState instanceof Uint32Array)) return undefined;
  return s as StreamInternals;
}

/** init()'s parameters when none is set (zstd's defaults), and its write callback (only async writes call it). */
const NO_PARAMS = new Uint32Array(0);
const NO_CALLBACK = () => {};

/** One zstd context, used for one frame at a time; broken for good after any error. */
class KeptContext {
  private readonly stream: ZstdCompress | ZstdDecompress;
  private readonly internals: StreamInternals;
  private broken = false;

  constructor(stream: ZstdCompress | ZstdDecompress, internals: StreamInternals) {
    this.stream = stream;
    this.internals = internals;
    // zlib reports a native error by destroying the stream, which emits 'error' on the next tick;
    // the failure is seen synchronously below (the handle is gone), so the event is only absorbed.
    stream.on("error", () => {});
  }

  get usable(): boolean {
    return !this.broken && this.internals._handle !== null;
  }

  /**
   * Gives the context a new zstd context with `dictionary` loaded (copied by zstd), in place of the
   * old one: what node's own constructor does once per stream, without a new stream object.
   * `params`: a compressor's parameters, as node's constructor lays them out (see paramsAt).
   */
  load(dictionary: Uint8Array, params: Uint32Array = NO_PARAMS): void {
    const handle = this.internals._handle;
    if (handle === null) throw this.fail();
    try {
      handle.init(params, undefined, this.internals._writeState, NO_CALLBACK, dictionary);
    } catch {
      throw this.fail();
    }
  }

  /**
   * Runs input through the context with ZSTD_e_end, writing into `out` from 0 and growing it (up to
   * `limit` bytes) when full. Returns the buffer written to and the number of bytes produced.
   */
  run(input: Uint8Array, out: Buffer, limit: number): { out: Buffer; length: number } {
    const state = this.internals._writeState;
    let inOff = 0;
    let inLen = input.byteLength;
    let length = 0;
    for (;;) {
      const handle = this.internals._handle;
      if (handle === null) throw this.fail();
      const room = out.byteLength - length;
      handle.writeSync(zc.ZSTD_e_end, input, inOff, inLen, out, length, room);
      if (this.internals._handle === null) throw this.fail();
      const availOut = state[0]!;
      const availIn = state[1]!;
      length += room - availOut;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut !== 0) return { out, length };
      if (out.byteLength >= limit) throw this.fail();
      const bigger = Buffer.allocUnsafe(Math.min(limit, out.byteLength * 2));
      out.copy(bigger, 0, 0, length);
      out = bigger;
    }
  }

  private fail(): CodecError {
    this.broken = true;
    this.stream.destroy();
    return new CodecError("zstd failed");
  }
}

const probe = createZstdDecompress();
/** False when this Node's zlib internals are not the shape this module drives (then one-shot calls are used). */
export const keptContexts = internalsOf(probe) !== undefined;
probe.destroy();

function keptContext(stream: ZstdCompress | ZstdDecompress): KeptContext | undefined {
  const internals = internalsOf(stream);
  return internals ? new KeptContext(stream, internals) : undefined;
}

const compressors = new Map<number, KeptContext>();
let compressScratch: Buffer = Buffer.allocUnsafe(64 * 1024);

/**
 * Compresses `data` into one zstd frame at `level`. The result is a view into a scratch buffer that
 * the next call overwrites: use it (seal it) before compressing again.
 */
export function zstdCompressFrame(data: Uint8Array, level: number): Buffer {
  if (!keptContexts) return zstdCompressSync(data, { pledgedSrcSize: data.byteLength, params: { [zc.ZSTD_c_compressionLevel]: level } });
  let ctx = compressors.get(level);
  if (!ctx?.usable) {
    ctx = keptContext(createZstdCompress({ params: { [zc.ZSTD_c_compressionLevel]: level } }))!;
    compressors.set(level, ctx);
  }
  // zstd's worst case for incompressible input is a little over the input size.
  const bound = data.byteLength + (data.byteLength >> 7) + 1024;
  if (compressScratch.byteLength < bound) compressScratch = Buffer.allocUnsafe(bound);
  const { out, length } = ctx.run(data, compressScratch, Math.max(bound, compressScratch.byteLength));
  compressScratch = out;
  return out.subarray(0, length);
}

let decompressor: KeptContext | undefined;
let decompressScratch: Buffer = Buffer.allocUnsafe(256 * 1024);

/**
 * One frame through the kept decompression context (a new one when `fresh`). Output that would
 * fill `limit` bytes throws, and leaves the context broken (run() never returns a full buffer).
 */
function decompressKept(frame: Uint8Array, out: Buffer, limit: number, fresh: boolean): { out: Buffer; length: number } {
  if (fresh || !decompressor?.usable) decompressor = keptContext(createZstdDecompress())!;
  return decompressor.run(frame, out, limit);
}

/**
 * Decompresses one zstd frame into `into` and returns the number of bytes written, which is less
 * than `into.byteLength`: output that would fill `into` completely is refused (throws), so size the
 * target one byte larger than the most the frame may hold. `fresh`: see zstdDecompressFrame.
 */
export function zstdDecompressInto(frame: Uint8Array, into: Buffer, fresh = false): number {
  if (!keptContexts) {
    const out = zstdDecompressSync(frame, { maxOutputLength: into.byteLength });
    if (out.byteLength >= into.byteLength) throw new CodecError("zstd frame larger than allowed");
    return out.copy(into);
  }
  return decompressKept(frame, into, into.byteLength, fresh).length;
}

/**
 * Decompresses one zstd frame into a new buffer of at most `maxLength` bytes; throws when the frame
 * is malformed or larger. `fresh` uses a new context (the caller's retry after a result that did
 * not verify, in case a kept context was left mid-frame by an earlier truncated input).
 */
export function zstdDecompressFrame(frame: Uint8Array, maxLength: number, fresh = false): Buffer {
  if (!keptContexts) return zstdDecompressSync(frame, { maxOutputLength: maxLength });
  const { out, length } = decompressKept(frame, decompressScratch, maxLength + 1, fresh);
  if (out.byteLength <= 16 * 1024 * 1024) decompressScratch = out;
  // The scratch buffer may be larger than the limit: a whole frame that fits it is still too large.
  if (length > maxLength) throw new CodecError("zstd frame larger than allowed");
  // copy() is a memcpy; Buffer.from(buffer) copies byte by byte in JavaScript (0.5 s per 500 MB).
  const result = Buffer.allocUnsafe(length);
  out.copy(result, 0, 0, length);
  return result;
}

/**
 * The first bytes of a formatted zstd dictionary. zstd reads a dictionary that starts with them
 * as trained tables, not as plain content, so such a base is never used (see canBeDictionary).
 */
const DICTIONARY_MAGIC = Buffer.from([0x37, 0xa4, 0x30, 0xec]);

/** True when `base` is taken by zstd as raw content, i.e. usable as a delta base. */
export function canBeDictionary(base: Uint8Array): boolean {
  return base.byteLength >= DICTIONARY_MAGIC.byteLength && !DICTIONARY_MAGIC.equals(base.subarray(0, DICTIONARY_MAGIC.byteLength));
}

/**
 * One frame of `data` compressed with `base` as a raw-content dictionary: what stays the same as
 * in the base costs a few bytes of match references (zstd's `--patch-from`). Through a kept stream
 * whose zstd context is replaced by one holding the base (see zstdDecompressAgainst): node's
 * one-shot call built and tore down a stream object per frame, and a daily commit of the bench
 * state compresses about 900 deltas. The result is a view of a buffer the next call overwrites.
 */
export function zstdCompressAgainst(data: Uint8Array, base: Uint8Array, level: number): Buffer {
  if (!keptContexts) {
    try {
      return zstdCompressSync(data, { dictionary: base, params: { [zc.ZSTD_c_compressionLevel]: level } });
    } catch (err) {
      throw new CodecError(`zstd delta compression failed: ${(err as Error).message}`);
    }
  }
  try {
    if (!deltaCompressor?.usable) deltaCompressor = keptContext(createZstdCompress())!;
    deltaCompressor.load(base, paramsAt(level));
    const bound = data.byteLength + (data.byteLength >> 7) + 1024;
    if (deltaScratch.byteLength < bound) deltaScratch = Buffer.allocUnsafe(bound);
    const { out, length } = deltaCompressor.run(data, deltaScratch, Math.max(bound, deltaScratch.byteLength));
    deltaScratch = out;
    return out.subarray(0, length);
  } catch (err) {
    throw new CodecError(`zstd delta compression failed: ${(err as Error).message}`);
  }
}

/** The kept stream that compresses deltas, and the buffer its frames are written to. */
let deltaCompressor: KeptContext | undefined;
let deltaScratch: Buffer = Buffer.allocUnsafe(64 * 1024);

/** Compression parameters by index (node's layout: unset ones are 0xffffffff), per level. */
const levelParams = new Map<number, Uint32Array>();
function paramsAt(level: number): Uint32Array {
  let params = levelParams.get(level);
  if (!params) {
    params = new Uint32Array(zc.ZSTD_c_compressionLevel + 1).fill(0xffffffff);
    params[zc.ZSTD_c_compressionLevel] = level;
    levelParams.set(level, params);
  }
  return params;
}

/** The kept stream for deltas: each frame gets a fresh zstd context holding its base. */
let deltaContext: KeptContext | undefined;

/**
 * Decompresses a delta frame against its base's plaintext, into a new buffer of at most `maxLength`
 * bytes. Through a kept stream whose zstd context is replaced by one holding the base before each
 * frame (what node's one-shot call does, without building and tearing down a stream object per
 * frame): the thirtieth-day checkout of the bench state decodes 4,474 deltas, about 240 µs each
 * one-shot, with the garbage collector busy with the streams left behind, against under 20 µs so.
 * A fresh context per frame also means no frame can find one left mid-frame by an earlier one.
 */
export function zstdDecompressAgainst(frame: Uint8Array, base: Uint8Array, maxLength: number): Buffer {
  if (!keptContexts) {
    try {
      return zstdDecompressSync(frame, { dictionary: base, maxOutputLength: maxLength });
    } catch (err) {
      throw new CodecError(`zstd delta frame does not decompress: ${(err as Error).message}`);
    }
  }
  try {
    if (!deltaContext?.usable) deltaContext = keptContext(createZstdDecompress())!;
    deltaContext.load(base);
    const { out, length } = deltaContext.run(frame, decompressScratch, maxLength + 1);
    if (out.byteLength <= 16 * 1024 * 1024) decompressScratch = out;
    if (length > maxLength) throw new CodecError("zstd frame larger than allowed");
    const result = Buffer.allocUnsafe(length);
    out.copy(result, 0, 0, length);
    return result;
  } catch (err) {
    throw new CodecError(`zstd delta frame does not decompress: ${(err as Error).message}`);
  }
}
