// AWS Signature Version 4 (header-based, single-chunk payload) on node:crypto.
//
// The signer works on decoded parts of a request: the path as text (not percent-encoded), the query
// as [name, value] pairs, the headers as [name, value] pairs (repeats allowed, in order). It
// encodes each of them once, as the S3 rules ask; `normalizePath` adds the generic-service rule
// (remove "." and ".." segments and repeated "/"), which S3 must NOT use.

import { createHash, createHmac } from "node:crypto";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials: sent (and signed) as x-amz-security-token. */
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  /** Decoded path, starting with "/". */
  path: string;
  /** Decoded query pairs, in any order; a valueless parameter is ["name", ""]. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Headers to sign, in order; repeated names are joined with "," as the rules say. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Hex SHA-256 of the payload (or "UNSIGNED-PAYLOAD"). */
  payloadHash: string;
}

export interface SignOptions {
  credentials: Credentials;
  region: string;
  service: string;
  /** Request time as YYYYMMDD'T'HHMMSS'Z' (the x-amz-date value). */
  amzDate: string;
  /** Generic-service path normalisation; off for S3. */
  normalizePath?: boolean;
}

export interface Signature {
  canonicalRequest: string;
  stringToSign: string;
  credentialScope: string;
  signedHeaders: string;
  signature: string;
  /** The Authorization header value. */
  authorization: string;
}

export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** YYYYMMDD'T'HHMMSS'Z' for a Date. */
export function toAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** RFC 3986 percent-encoding of every byte outside the unreserved set (and "/" when keepSlash). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = "";
  for (const ch of text) {
    if (UNRESERVED.test(ch) || (keepSlash && ch === "/")) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/** Removes ".", ".." and empty segments (the generic SigV4 rule; never for S3). */
function normalizePathSegments(path: string): string {
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  const trailing = path.endsWith("/") && out.length > 0 ? "/" : "";
  return `/${out.join("/")}${trailing}`;
}

export function canonicalUri(path: string, normalize = false): string {
  const p = normalize ? normalizePathSegments(path) : path;
  return uriEncode(p.startsWith("/") ? p : `/${p}`, true);
}

function canonicalQuery(query: ReadonlyArray<readonly [string, string]> = []): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, " ");
}

/** Lower-cased, trimmed, sorted headers; repeats joined with "," in their original order. */
function canonicalHeaders(headers: ReadonlyArray<readonly [string, string]>): { text: string; signed: string } {
  const byName = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.trim().toLowerCase();
    const list = byName.get(key) ?? [];
    list.push(canonicalHeaderValue(value));
    byName.set(key, list);
  }
  const names = [...byName.keys()].sort();
  return {
    text: names.map((n) => `${n}:${byName.get(n)!.join(",")}\n`).join(""),
    signed: names.join(";"),
  };
}

const keyCache = new Map<string, Buffer>();

/** The derived signing key for a date/region/service (cached; a few entries per process). */
function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${sha256Hex(secretAccessKey)}/${date}/${region}/${service}`;
  const hit = keyCache.get(cacheKey);
  if (hit) return hit;
  const kDate = createHmac("sha256", `AWS4${secretAccessKey}`).update(date).digest();
  const kRegion = createHmac("sha256", kDate).update(region).digest();
  const kService = createHmac("sha256", kRegion).update(service).digest();
  const kSigning = createHmac("sha256", kService).update("aws4_request").digest();
  if (keyCache.size > 32) keyCache.clear();
  keyCache.set(cacheKey, kSigning);
  return kSigning;
}

/** Signs a request. The headers must already hold host and x-amz-date (and anything else signed). */
export function sign(request: SignableRequest, options: SignOptions): Signature {
  const { text, signed } = canonicalHeaders(request.headers);
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(request.path, options.normalizePath ?? false),
    canonicalQuery(request.query),
    text,
    signed,
    request.payloadHash,
  ].join("\n");
  const date = options.amzDate.slice(0, 8);
  const credentialScope = `${date}/${options.region}/${options.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", options.amzDate, credentialScope, sha256Hex(canonicalRequest)].join("\n");
  const key = signingKey(options.credentials.secretAccessKey, date, options.region, options.service);
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  const authorization = `AWS4-HMAC-SHA256 Credential=${options.credentials.accessKeyId}/${credentialScope}, SignedHeaders=${signed}, Signature=${signature}`;
  return { canonicalRequest, stringToSign, credentialScope, signedHeaders: signed, signature, authorization };
}
