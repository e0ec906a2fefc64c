// Deterministic randomness for the generator: a small fast PRNG (sfc32) for choices, and AES-CTR
// keystreams for bulk bytes (media, embeddings, keys). Everything is derived from a seed string and
// a label, so independent parts of the generator do not shift each other's streams.

import { createCipheriv, createHash } from "node:crypto";

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  readonly label: string;

  constructor(seed: string, label = "") {
    this.label = `${seed}/${label}`;
    const h = createHash("sha256").update(this.label).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A child stream, independent of how much this one is used later. */
  fork(label: string): Rng {
    return new Rng(this.label, label);
  }

  u32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from empty list");
    return items[this.int(items.length)] as T;
  }

  /** Log-normal-ish positive size around `median`, clamped to [lo, hi]. */
  size(median: number, spread: number, lo: number, hi: number): number {
    // Sum of uniforms approximates a normal; exp of it gives a long right tail like real sizes.
    const z = (this.next() + this.next() + this.next() + this.next() - 2) * 1.7;
    return Math.max(lo, Math.min(hi, Math.round(median * Math.exp(z * spread))));
  }

  hex(chars: number): string {
    let s = "";
    while (s.length < chars) s += this.u32().toString(16).padStart(8, "0");
    return s.slice(0, chars);
  }

  uuid(): string {
    const h = this.hex(32).split("");
    h[12] = "4";
    h[16] = "89ab"[parseInt(h[16] ?? "0", 16) & 3] ?? "8";
    const s = h.join("");
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }

  base62(chars: number): string {
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let s = "";
    for (let i = 0; i < chars; i++) s += alphabet[this.int(62)];
    return s;
  }

  /** `n` pseudo-random bytes (incompressible), from an AES-256-CTR keystream keyed by this stream. */
  bytes(n: number): Buffer {
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i += 4) key.writeUInt32LE(this.u32(), i);
    const iv = Buffer.alloc(16);
    for (let i = 0; i < 16; i += 4) iv.writeUInt32LE(this.u32(), i);
    const cipher = createCipheriv("aes-256-ctr", key, iv);
    return cipher.update(Buffer.alloc(n));
  }

  /** A unit-length embedding vector of `dims` float32 values, as raw little-endian bytes. */
  embedding(dims: number): Buffer {
    const v = new Float32Array(dims);
    let norm = 0;
    for (let i = 0; i < dims; i++) {
      const x = this.next() + this.next() + this.next() - 1.5;
      v[i] = x;
      norm += x * x;
    }
    const k = 1 / Math.sqrt(norm);
    for (let i = 0; i < dims; i++) v[i] = (v[i] ?? 0) * k;
    return Buffer.from(v.buffer);
  }
}
