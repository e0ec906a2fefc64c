import { createHash } from "node:crypto";
import { IntegrityError } from "../errors.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import { openJson, sealJson } from "./sealed-json.ts";
import { entriesFromTuples, entriesToTuples, type PackEntry } from "./pack.ts";

export interface ManifestPack {
  id: string;
  size: number;
  blobs: PackEntry[];
}

/** One `index/` object: the packs a commit (or a prune) wrote, and the blobs in each. */
export interface PackManifest {
  packs: ManifestPack[];
}

interface StoredManifest {
  packs: { id: string; size: number; blobs: ReturnType<typeof entriesToTuples> }[];
}

export function encodeManifest(keys: RepoKeys, manifest: PackManifest): { id: string; bytes: Buffer } {
  const stored: StoredManifest = {
    packs: manifest.packs.map((p) => ({ id: p.id, size: p.size, blobs: entriesToTuples(p.blobs) })),
  };
  const bytes = sealJson(keys.encryption, "pack manifest", stored);
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

export function decodeManifest(keys: RepoKeys, bytes: Uint8Array, where: string): PackManifest {
  const stored = openJson<{ packs?: unknown }>(keys.encryption, "pack manifest", bytes, where);
  if (!Array.isArray(stored?.packs)) throw new IntegrityError(where, "malformed pack manifest");
  return {
    packs: stored.packs.map((p: unknown) => {
      const { id, size, blobs } = (p ?? {}) as { id?: unknown; size?: unknown; blobs?: unknown };
      if (typeof id !== "string" || !/^[0-9a-f]{64}$/.test(id) || typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw new IntegrityError(where, "malformed pack entry in the manifest");
      return { id, size, blobs: entriesFromTuples(blobs, where, size) };
    }),
  };
}
