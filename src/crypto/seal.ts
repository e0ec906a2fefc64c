import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Sealed layout: nonce (12) | ciphertext | tag (16). The associated data binds a sealed object
// to its role (a blob to its chunk id, a snapshot record to the word "snapshot"), so objects
// cannot be swapped for one another without detection.
const NONCE = 12;
const TAG = 16;
export const SEAL_OVERHEAD = NONCE + TAG;

export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
}

/** Opens a sealed buffer; returns undefined when authentication fails (the caller names the object). */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  if (sealed.byteLength < SEAL_OVERHEAD) return undefined;
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv("aes-256-gcm", key, buf.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(buf.length - TAG));
  try {
    return Buffer.concat([decipher.update(buf.subarray(NONCE, buf.length - TAG)), decipher.final()]);
  } catch {
    return undefined;
  }
}
