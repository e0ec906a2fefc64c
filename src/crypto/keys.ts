import { hkdfSync, randomBytes, createHmac, timingSafeEqual, type Hmac } from "node:crypto";

/** The repository's master key: random bytes, never derived from a credential. */
const MASTER_KEY_BYTES = 32;

/** Keys derived from the master key, one per purpose, so no key is used for two jobs. */
export interface RepoKeys {
  /** AES-256-GCM key for every sealed object and blob. */
  readonly encryption: Buffer;
  /** HMAC-SHA256 key for chunk ids and file digests. */
  readonly id: Buffer;
  /** Seed for the chunker's gear table, so boundaries cannot be predicted from content. */
  readonly gear: Buffer;
}

export function generateMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES);
}

export function deriveKeys(master: Uint8Array): RepoKeys {
  const derive = (label: string) => Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `clawback v1 ${label}`, 32));
  return { encryption: derive("encryption"), id: derive("chunk-id"), gear: derive("gear") };
}

/** Chunk id: HMAC-SHA256(id key, plaintext), as hex. */
export function chunkId(keys: RepoKeys, data: Uint8Array): string {
  return createHmac("sha256", keys.id).update(data).digest("hex");
}

/** An incremental chunk-id computation, for a chunk that arrives in pieces. */
export function chunkHasher(keys: RepoKeys): Hmac {
  return createHmac("sha256", keys.id);
}

export function equalHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}
