import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { chunkId, deriveKeys, generateMasterKey } from "../../src/crypto/keys.ts";
import { open, seal, SEAL_OVERHEAD } from "../../src/crypto/seal.ts";
import { createKeyFile, keyFileId, parseKeyFile, unwrapMasterKey } from "../../src/crypto/keyfile.ts";
import { IntegrityError } from "../../src/errors.ts";

describe("seal and open (AES-256-GCM)", () => {
  const key = randomBytes(32);
  const aad = Buffer.from("context");

  it("round-trips, given whole or in parts, with a fresh nonce each time", () => {
    const msg = randomBytes(1000);
    const a = seal(key, msg, aad);
    const b = seal(key, [msg.subarray(0, 10), msg.subarray(10)], aad);
    expect(a.length).toBe(msg.length + SEAL_OVERHEAD);
    expect(a.equals(b)).toBe(false);
    expect(open(key, a, aad)).toEqual(msg);
    expect(open(key, b, aad)).toEqual(msg);
  });

  it("refuses a flipped bit anywhere, other associated data, another key, or a truncated box", () => {
    const sealed = seal(key, Buffer.from("hello world"), aad);
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 1;
      expect(open(key, bad, aad), `byte ${i}`).toBeUndefined();
    }
    expect(open(key, sealed, Buffer.from("other"))).toBeUndefined();
    expect(open(randomBytes(32), sealed, aad)).toBeUndefined();
    expect(open(key, sealed.subarray(0, SEAL_OVERHEAD - 1), aad)).toBeUndefined();
  });
});

describe("keys", () => {
  it("derives distinct purpose keys; chunk ids are keyed", () => {
    const k1 = deriveKeys(generateMasterKey());
    const k2 = deriveKeys(generateMasterKey());
    expect(new Set([k1.encryption.toString("hex"), k1.id.toString("hex"), k1.gear.toString("hex")]).size).toBe(3);
    const data = Buffer.from("same content");
    expect(chunkId(k1, data)).toBe(chunkId(k1, data));
    expect(chunkId(k1, data)).not.toBe(chunkId(k2, data));
    expect(chunkId(k1, data)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a key file opens with its passphrase only, names itself by hash, and holds no plaintext key", async () => {
    const master = generateMasterKey();
    const { id, bytes } = await createKeyFile(master, "pass phrase", { N: 2 ** 14, r: 8, p: 1 });
    expect(keyFileId(bytes)).toBe(id);
    expect(bytes.includes(master.toString("base64"))).toBe(false);
    expect(bytes.includes(master.toString("hex"))).toBe(false);
    const file = parseKeyFile("keys/x", bytes);
    expect(await unwrapMasterKey(file, "pass phrase")).toEqual(master);
    expect(await unwrapMasterKey(file, "Pass phrase")).toBeUndefined();
  });

  it("refuses malformed key files and weak scrypt parameters by name", async () => {
    expect(() => parseKeyFile("keys/a", Buffer.from("{not json"))).toThrow(IntegrityError);
    const { bytes } = await createKeyFile(generateMasterKey(), "p", { N: 2 ** 14, r: 8, p: 1 });
    const weak = JSON.parse(bytes.toString());
    weak.scrypt.N = 1024;
    expect(() => parseKeyFile("keys/b", Buffer.from(JSON.stringify(weak)))).toThrow(/keys\/b.*scrypt/);
  });
});
