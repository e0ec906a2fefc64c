import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";

// Sealed layout: nonce (12) | ciphertext | tag (16). The associated data binds a sealed object
// to its role (a blob to its chunk id, a snapshot record to the word "snapshot"), so objects
// cannot be swapped for one another without detection.
const NONCE = 12;
const TAG = 16;
export const SEAL_OVERHEAD = NONCE + TAG;

// Random nonces drawn from a refilled pool: one call to the CSPRNG per 340 seals instead of one
// each (a measurable share of a commit of many small chunks). Each nonce is used once.
const pool = Buffer.alloc(NONCE * 340);
let poolAt = pool.length;

function nextNonce(out: Buffer, at: number): void {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  pool.copy(out, at, poolAt, poolAt + NONCE);
  poolAt += NONCE;
}

/** Bytes seal() produces for a plaintext of `length` bytes. */
export function sealedLength(length: number): number {
  return NONCE + length + TAG;
}

/** Seals the plaintext, given whole or in parts (sealed as their concatenation, without copying it). */
export function seal(key: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], aad: Uint8Array): Buffer {
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  const out = Buffer.allocUnsafe(sealedLength(parts.reduce((n, p) => n + p.byteLength, 0)));
  sealInto(key, parts, aad, out, 0);
  return out;
}

/**
 * Seals the concatenated parts into `out` at `at` (room for sealedLength of them is the caller's
 * to ensure); returns the number of bytes written.
 */
export function sealInto(key: Uint8Array, parts: readonly Uint8Array[], aad: Uint8Array, out: Buffer, at: number): number {
  const start = at;
  nextNonce(out, at);
  const cipher = createCipheriv("aes-256-gcm", key, out.subarray(at, at + NONCE));
  at += NONCE;
  cipher.setAAD(aad);
  for (const part of parts) at += cipher.update(part).copy(out, at);
  at += cipher.final().copy(out, at);
  at += cipher.getAuthTag().copy(out, at);
  return at - start;
}

/** Opens a sealed buffer; returns undefined when authentication fails (the caller names the object). */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.byteLength < SEAL_OVERHEAD) return undefined;
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv("aes-256-gcm", key, buf.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(buf.length - TAG));
  try {
    const plain = decipher.update(buf.subarray(NONCE, buf.length - TAG));
    const rest = decipher.final(); // GCM authenticates here; it holds back no bytes
    return rest.byteLength === 0 ? plain : Buffer.concat([plain, rest]);
  } catch {
    return undefined;
  }
}
