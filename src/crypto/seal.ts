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

function nextNonce(out: Buffer): void {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  pool.copy(out, 0, poolAt, poolAt + NONCE);
  poolAt += NONCE;
}

/** Seals the plaintext, given whole or in parts (sealed as their concatenation, without copying it). */
export function seal(key: Uint8Array, plaintext: Uint8Array | readonly Uint8Array[], aad: Uint8Array): Buffer {
  const parts = plaintext instanceof Uint8Array ? [plaintext] : plaintext;
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = Buffer.allocUnsafe(NONCE + length + TAG);
  nextNonce(out);
  const cipher = createCipheriv("aes-256-gcm", key, out.subarray(0, NONCE));
  cipher.setAAD(aad);
  let at = NONCE;
  for (const part of parts) at += cipher.update(part).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
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
