import { randomBytes, scrypt as scryptCb, createHash, hkdfSync } from "node:crypto";
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

/**
 * What is stored under keys/<id>: plaintext JSON, since it must open before anything else.
 * Version 2 adds `config`: the repository's `config` bytes sealed under a key derived from the
 * master key, so an edited, swapped or lost `config` is detected at open and can be restored.
 * The master key of a version 2 file is sealed with other associated data than version 1's, so
 * stripping `config` and relabelling the file as version 1 makes it fail to open.
 */
export interface KeyFile {
  version: 1 | 2;
  kdf: "scrypt";
  scrypt: ScryptParams;
  salt: string;
  /** The master key sealed by the passphrase-derived key (base64). */
  sealedMaster: string;
  /** Version 2: the repository's config bytes, sealed under configSealKey(master) (base64). */
  config?: string;
  created: string;
  host: string;
}

const AAD_V1 = Buffer.from("clawback key file v1");
const AAD_V2 = Buffer.from("clawback key file v2");
const CONFIG_AAD = Buffer.from("clawback config copy");
const aadOf = (file: KeyFile) => (file.version === 2 ? AAD_V2 : AAD_V1);

/** The key that seals the config copy in version 2 key files (derived, never the master itself). */
function configSealKey(master: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "clawback v1 config copy", 32));
}

function deriveWrappingKey(passphrase: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  return scrypt(passphrase, salt, 32, { ...params, maxmem: 256 * params.N * params.r + 16 * 1024 * 1024 });
}

/**
 * A key file for `passphrase`. With `config` (the repository's config bytes) it is version 2 and
 * carries the sealed copy; without, version 1 (kept for repositories whose config predates it).
 */
export async function createKeyFile(master: Uint8Array, passphrase: string, params: ScryptParams = DEFAULT_SCRYPT, config?: Uint8Array): Promise<{ id: string; bytes: Buffer }> {
  const salt = randomBytes(32);
  const wrapping = await deriveWrappingKey(passphrase, salt, params);
  const version = config ? 2 : 1;
  const file: KeyFile = {
    version,
    kdf: "scrypt",
    scrypt: params,
    salt: salt.toString("base64"),
    sealedMaster: seal(wrapping, master, version === 2 ? AAD_V2 : AAD_V1).toString("base64"),
    ...(config ? { config: seal(configSealKey(master), config, CONFIG_AAD).toString("base64") } : {}),
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
  if ((file?.version !== 1 && file?.version !== 2) || file.kdf !== "scrypt" || !p || typeof file.salt !== "string" || typeof file.sealedMaster !== "string" || (file.version === 2) !== (typeof file.config === "string")) {
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
  return open(wrapping, Buffer.from(file.sealedMaster, "base64"), aadOf(file));
}

/**
 * The config bytes sealed in a version 2 key file; undefined for version 1. A copy that does not
 * open under the master key is an IntegrityError naming the key file.
 */
export function openConfigCopy(name: string, file: KeyFile, master: Uint8Array): Buffer | undefined {
  if (file.version !== 2 || file.config === undefined) return undefined;
  const plain = open(configSealKey(master), Buffer.from(file.config, "base64"), CONFIG_AAD);
  if (!plain) throw new IntegrityError(name, "its sealed copy of config does not authenticate");
  return plain;
}

export function keyFileId(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
