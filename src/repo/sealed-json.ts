import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { IntegrityError } from "../errors.ts";
import { open, seal } from "../crypto/seal.ts";

// Structured objects (snapshot records, pack manifests, pack headers, locks) are JSON,
// zstd-compressed, then sealed. The associated data names the object's kind so that a valid
// object of one kind cannot be passed off as another.

export function sealJson(key: Uint8Array, kind: string, value: unknown): Buffer {
  return seal(key, zstdCompressSync(Buffer.from(JSON.stringify(value))), Buffer.from(`clawback ${kind}`));
}

export function openJson<T>(key: Uint8Array, kind: string, sealed: Uint8Array, objectName: string): T {
  const plain = open(key, sealed, Buffer.from(`clawback ${kind}`));
  if (!plain) throw new IntegrityError(objectName, "authentication failed (corrupted, truncated or not written by this repository's key)");
  try {
    return JSON.parse(zstdDecompressSync(plain).toString("utf8")) as T;
  } catch {
    throw new IntegrityError(objectName, "authenticated but not decodable");
  }
}
