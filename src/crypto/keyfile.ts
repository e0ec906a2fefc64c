import { randomBytes, scrypt as scryptCb, createHash } from "node:crypto";
import { hostname } from "node:os";
import { promisify } from "node:util";
import { IntegrityError } from "../errors.ts";
import { open, seal } from "./seal.ts";

const scrypt = promisify(scryptCb) as (pw: string, salt: Uint8Array, len: number, opts: object) => Promise<Buffer>;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** N = 2^15 is the floor; raise it for slower, more guess-resistant key files. */
const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

/** What is stored under keys/<id>: plaintext JSON, since it must open before anything else. */
export interface KeyFile {
  version: 1;
  kdf: "scrypt";
  scrypt: ScryptParams;
  salt: string;
  /** The master key sealed by the passphrase-derived key (base64). */
  sealedMaster: string;
  created: string;
  host: string;
}

const AAD = Buffer.from("clawback key file v1");

function deriveWrappingKey(passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  return scrypt(passphrase, salt, 32, { ...params, maxmem: 256 * params.N * params.r + 16 * 1024 * 1024 });
}

export async function createKeyFile(master: Uint8Array, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<{ id: string; bytes: Buffer }> {
  const salt = randomBytes(32);
  const wrapping = await deriveWrappingKey(passphrase, salt, params);
  const file: KeyFile = {
    version: 1,
    kdf: "scrypt",
    scrypt: params,
    salt: salt.toString("base64"),
    sealedMaster: seal(wrapping, master, AAD).toString("base64"),
    created: new Date().toISOString(),
    host: hostname(),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 1));
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

export function parseKeyFile(name: string, bytes: Uint8Array): KeyFile {
  let file: KeyFile;
  try {
    file = JSON.parse(Buffer.from(bytes).toString("utf8")) as KeyFile;
  } catch {
    throw new IntegrityError(name, "not a valid key file (bad JSON)");
  }
  const p = file?.scrypt;
  if (file?.version !== 1 || file.kdf !== "scrypt" || !p || typeof file.salt !== "string" || typeof file.sealedMaster !== "string") {
    throw new IntegrityError(name, "not a valid key file (missing fields)");
  }
  if (!Number.isInteger(p.N) || !Number.isInteger(p.r) || !Number.isInteger(p.p) || p.N < 2 ** 14 || p.N > 2 ** 22 || (p.N & (p.N - 1)) !== 0 || p.r < 1 || p.r > 32 || p.p < 1 || p.p > 16) {
    throw new IntegrityError(name, "scrypt parameters out of range");
  }
  return file;
}

/**
 * Unwraps the master key, or returns undefined when the passphrase does not open it. A flipped
 * byte in the key file also fails here, so callers report both as "cannot open" — but a key file
 * whose id (its SHA-256) no longer matches its bytes is reported as corrupt by the caller first.
 */
export async function unwrapMasterKey(file: KeyFile, passphrase: string): Promise<Buffer | undefined> {
  const wrapping = await deriveWrappingKey(passphrase, Buffer.from(file.salt, "base64"), file.scrypt);
  return open(wrapping, Buffer.from(file.sealedMaster, "base64"), AAD);
}

export function keyFileId(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
