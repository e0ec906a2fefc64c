import { deriveKeys } from "../../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../../src/crypto/keyfile.ts";
import { decodeBlob } from "../../../src/repo/blob.ts";
import { readPackHeader, type PackEntry } from "../../../src/repo/pack.ts";
import { openJson } from "../../../src/repo/sealed-json.ts";
import { DATA_PREFIX, INDEX_PREFIX, KEYS_PREFIX, SNAPSHOTS_PREFIX, idOf } from "../../../src/repo/layout.ts";
import type { Backend } from "../../../src/storage/backend.ts";

/**
 * Every byte a repository holds, decrypted: each blob of each pack (deltas resolved against
 * their bases), each pack manifest and snapshot record, and every object's raw bytes as stored.
 * What a scan for leaked secrets has to look through.
 */
export async function repositoryPlaintexts(backend: Backend, passphrase: string): Promise<{ decrypted: Buffer[]; raw: Buffer[]; blobs: number }> {
  let master: Buffer | undefined;
  for await (const obj of backend.list(KEYS_PREFIX)) master ??= await unwrapMasterKey(parseKeyFile(obj.key, await backend.get(obj.key)), passphrase);
  if (!master) throw new Error("no key file opens with the passphrase");
  const keys = deriveKeys(master);
  const raw: Buffer[] = [];
  const decrypted: Buffer[] = [];
  const sealed = new Map<string, { entry: PackEntry; bytes: Buffer; where: string }>();
  for await (const obj of backend.list("")) {
    const bytes = Buffer.from(await backend.get(obj.key));
    raw.push(bytes);
    if (obj.key.startsWith(DATA_PREFIX)) {
      for (const entry of readPackHeader(keys, idOf(obj.key), bytes, obj.key)) sealed.set(entry.id, { entry, bytes: bytes.subarray(entry.offset, entry.offset + entry.length), where: obj.key });
    } else if (obj.key.startsWith(INDEX_PREFIX)) decrypted.push(Buffer.from(JSON.stringify(openJson(keys.encryption, "pack manifest", bytes, obj.key))));
    else if (obj.key.startsWith(SNAPSHOTS_PREFIX)) decrypted.push(Buffer.from(JSON.stringify(openJson(keys.encryption, "snapshot", bytes, obj.key))));
  }
  const plain = new Map<string, Buffer>();
  const open = (id: string): Buffer => {
    const done = plain.get(id);
    if (done) return done;
    const blob = sealed.get(id);
    if (!blob) throw new Error(`blob ${id} is in no pack`);
    const data = decodeBlob(keys, id, blob.bytes, blob.where, { baseOf: (baseId) => open(baseId) });
    plain.set(id, data);
    return data;
  };
  for (const id of sealed.keys()) decrypted.push(open(id));
  return { decrypted, raw, blobs: sealed.size };
}
