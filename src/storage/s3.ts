// The S3 backend: any S3-compatible store (AWS, Backblaze B2's S3 API, MinIO, s3rver, ...), signed
// with SigV4 (./sigv4.ts), over node:http(s) (./http.ts). Path-style addressing by default,
// virtual-hosted as an option. Every request goes through a p-limit queue (default 32 at a time) and
// is counted. Failures are classified once, here: transient ones (429, 5xx, resets, timeouts,
// truncated bodies) become TransientStorageError for the retry decorator (./retry.ts); the rest
// fail for good with a message naming the operation, the key, the bucket and the status.

import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import type { Agent } from "node:http";
import pLimit from "p-limit";
import { ObjectNotFoundError, StorageAuthError, StorageError, TransientStorageError } from "../errors.ts";
import { emptyCounts, type Backend, type ByteRange, type LocalFile, type ObjectInfo, type RequestCounts } from "./backend.ts";
import { createAgent, HttpFailure, httpRequest, isStreamed, parseRetryAfter, type HttpResponse, type StreamedBody } from "./http.ts";
import { EMPTY_SHA256, sha256Hex, sign, toAmzDate, uriEncode, type Credentials } from "./sigv4.ts";

/**
 * Requests in flight at once unless configured. Each caller bounds its own requests (a commit's
 * uploads, a checkout's ranges ahead, the delta bases a commit reads, 32 at a time): this only
 * caps them together. A daily commit of the 500 MB bench state makes about 400 range GETs for its
 * delta bases: over a 100 ms round trip it took 14.9 s with 4 in flight, 6.5 s with 16 and 5.1 s
 * with 32 (`bench/remote-daily.ts`). A store that is too busy answers 503, which is retried.
 */
const DEFAULT_CONCURRENCY = 32;

export interface S3Config {
  /** Service endpoint, e.g. "https://s3.us-west-004.backblazeb2.com" or "http://127.0.0.1:9000". */
  endpoint: string;
  region: string;
  bucket: string;
  /** Key prefix inside the bucket ("" or ending in "/"); the repository lives under it. */
  prefix?: string;
  credentials: Credentials;
  /** Path-style (`endpoint/bucket/key`, the default) or virtual-hosted (`bucket.endpoint/key`). */
  pathStyle?: boolean;
  /** Requests in flight at once (default DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Abort a request whose connection is silent this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Abort a request that takes longer than this overall (default 10 min). */
  requestTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (default and maximum 1,000). */
  listPageSize?: number;
  /** Use DeleteObjects for deleteMany (default true; turned off by itself when the server refuses it). */
  batchDelete?: boolean;
  /** Scheme used in `location` ("s3" or "b2"). */
  scheme?: string;
}

type Operation = "put" | "get" | "head" | "list" | "delete" | "deleteMany";

interface Exchange {
  op: Operation;
  method: string;
  key?: string;
  /** Object key relative to the bucket (prefix included); undefined for bucket-level requests. */
  objectKey?: string;
  query?: [string, string][];
  headers?: Record<string, string>;
  body?: Uint8Array | StreamedBody;
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function xmlDecode(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, ent: string) => {
    if (ent.startsWith("#x")) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith("#")) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return XML_ENTITIES[ent] ?? whole;
  });
}

function xmlEncode(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${Object.entries(XML_ENTITIES).find(([, v]) => v === c)![0]};`);
}

function xmlTag(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? xmlDecode(m[1]!) : undefined;
}

function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1]!);
  return out;
}

// XML 1.0 cannot carry these characters, so keys holding them are deleted one by one.
const XML_UNSAFE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? "").replace(/^\/+|\/+$/g, "");
  return trimmed ? `${trimmed}/` : "";
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region: string;
  readonly endpoint: URL;
  protected readonly stats: RequestCounts = emptyCounts();
  private readonly config: S3Config;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly agent: Agent;
  private batchDelete: boolean;

  constructor(config: S3Config) {
    this.config = config;
    this.bucket = config.bucket;
    this.prefix = normalizePrefix(config.prefix);
    this.region = config.region;
    this.endpoint = new URL(config.endpoint);
    if (this.endpoint.username || this.endpoint.password) {
      throw new StorageError("the S3 endpoint URL must not carry credentials", { operation: "open", location: `${config.scheme ?? "s3"}://${config.bucket}` });
    }
    this.location = `${config.scheme ?? "s3"}://${config.bucket}/${this.prefix}`;
    const concurrency = Math.max(1, config.concurrency ?? DEFAULT_CONCURRENCY);
    this.limit = pLimit(concurrency);
    this.agent = createAgent(this.endpoint.protocol, concurrency);
    this.batchDelete = config.batchDelete ?? true;
  }

  /** The endpoint as printed in messages (origin only). */
  get endpointLabel(): string {
    return this.endpoint.origin;
  }

  private objectKey(key: string): string {
    if (key === "" || key.startsWith("/")) {
      throw new StorageError(`invalid object key ${JSON.stringify(key)}`, { operation: "key", key, location: this.location });
    }
    return `${this.prefix}${key}`;
  }

  /**
   * Where a request goes. The request target is built by hand, not through URL, which would
   * resolve "." and ".." segments: S3 keys are opaque and are sent (and signed) exactly as they are.
   */
  private target(objectKey: string | undefined, query: [string, string][]): { origin: URL; host: string; path: string; requestTarget: string } {
    const base = this.endpoint.pathname.replace(/\/+$/, "");
    const pathStyle = this.config.pathStyle ?? true;
    const host = pathStyle ? this.endpoint.host : `${this.bucket}.${this.endpoint.host}`;
    const keyPart = objectKey === undefined ? "" : `/${objectKey}`;
    const path = pathStyle ? `${base}/${this.bucket}${keyPart}` : `${base}${keyPart || "/"}`;
    const search = query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
    const origin = new URL(`${this.endpoint.protocol}//${host}/`);
    return { origin, host, path, requestTarget: `${uriEncode(path, true)}${search ? `?${search}` : ""}` };
  }

  /** Signs and sends one request (inside the concurrency limit), and maps failures to errors. */
  protected exchange(x: Exchange): Promise<HttpResponse> {
    return this.limit(() => this.send(x));
  }

  private async send(x: Exchange): Promise<HttpResponse> {
    const query = x.query ?? [];
    const { origin, host, path, requestTarget } = this.target(x.objectKey, query);
    const body = x.body;
    const payloadHash = !body || body.byteLength === 0 ? EMPTY_SHA256 : isStreamed(body) ? body.sha256 : sha256Hex(body);
    const amzDate = toAmzDate(new Date());
    const headers: Record<string, string> = {
      host,
      "x-amz-date": amzDate,
      "x-amz-content-sha256": payloadHash,
      ...x.headers,
    };
    if (this.config.credentials.sessionToken) headers["x-amz-security-token"] = this.config.credentials.sessionToken;
    const signature = sign(
      { method: x.method, path, query, headers: Object.entries(headers), payloadHash },
      { credentials: this.config.credentials, region: this.region, service: "s3", amzDate },
    );
    headers.authorization = signature.authorization;
    headers["user-agent"] = "clawback";

    this.stats[x.op === "deleteMany" ? "delete" : x.op]++;
    if (x.op === "put" && body) this.stats.bytesUp += body.byteLength;
    let res: HttpResponse;
    try {
      res = await httpRequest({
        method: x.method,
        url: origin,
        path: requestTarget,
        headers,
        ...(body ? { body } : {}),
        agent: this.agent,
        idleTimeoutMs: this.config.idleTimeoutMs ?? 30_000,
        requestTimeoutMs: this.config.requestTimeoutMs ?? 600_000,
      });
    } catch (err) {
      throw this.networkError(x, err);
    }
    if (x.op === "get" && res.status < 300) this.stats.bytesDown += res.body.byteLength;
    return res;
  }

  private describe(x: Exchange): string {
    const what = x.key !== undefined ? ` of ${JSON.stringify(x.key)}` : "";
    return `${this.config.scheme === "b2" ? "B2" : "S3"} ${x.op.toUpperCase()}${what} in bucket ${JSON.stringify(this.bucket)} (${this.endpointLabel})`;
  }

  private details(x: Exchange, status?: number) {
    return {
      operation: x.op,
      ...(x.key !== undefined ? { key: x.key } : {}),
      ...(status !== undefined ? { status } : {}),
      location: this.location,
    };
  }

  private networkError(x: Exchange, err: unknown): Error {
    if (err instanceof HttpFailure) {
      const message = `${this.describe(x)} failed: ${err.message}`;
      return err.transient
        ? new TransientStorageError(message, this.details(x), { cause: err })
        : new StorageError(message, this.details(x), { cause: err });
    }
    return err as Error;
  }

  /** Maps a non-2xx response to the right error class. */
  protected responseError(x: Exchange, res: HttpResponse): Error {
    const text = res.body.toString("utf8");
    const code = xmlTag(text, "Code");
    const detail = xmlTag(text, "Message");
    const status = res.status;
    let message = `${this.describe(x)} failed: ${status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`;
    const details = this.details(x, status);
    if (status === 404 && code !== "NoSuchBucket" && x.key !== undefined && (x.op === "get" || x.op === "head")) {
      return new ObjectNotFoundError(x.key, this.location);
    }
    if (status === 404 && code === "NoSuchBucket") {
      return new StorageError(`${message} (the bucket does not exist)`, details);
    }
    if (status === 401 || status === 403) {
      if (code === "RequestTimeTooSkewed") message += " (check this machine's clock)";
      else if (code === "SignatureDoesNotMatch" || code === "InvalidAccessKeyId") message += " (check the access key and secret)";
      // A HEAD answer has no body to say why: name what usually causes it.
      else if (code === undefined) message += " (check the access key ID and secret, the key's permissions on this bucket, and this machine's clock)";
      return new StorageAuthError(message, details);
    }
    const transientCodes = ["RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable"];
    if ([408, 429, 500, 502, 503, 504].includes(status) || (code !== undefined && transientCodes.includes(code))) {
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      return new TransientStorageError(message, details, retryAfterMs === undefined ? undefined : { retryAfterMs });
    }
    return new StorageError(message, details);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const x: Exchange = {
      op: "put",
      method: "PUT",
      key,
      objectKey: this.objectKey(key),
      body,
      headers: {
        "content-md5": createHash("md5").update(body).digest("base64"),
        "content-type": "application/octet-stream",
      },
    };
    const res = await this.exchange(x);
    if (res.status >= 300) throw this.responseError(x, res);
  }

  readonly putFileMd5 = true;

  /**
   * Stores a local file, streamed from disk as it is sent: the payload hash SigV4 signs is the
   * file's SHA-256 the caller knows, and Content-MD5 the MD5 the caller hashed as it wrote the file
   * (`md5`), or else one read of the file in 1 MiB pieces before the request: neither needs the
   * file in memory whole.
   */
  async putFile(key: string, file: LocalFile): Promise<void> {
    // A stream of nothing has no byte range to ask for: an empty object is an empty put.
    if (file.size === 0) return this.put(key, new Uint8Array(0));
    const x: Exchange = { op: "put", method: "PUT", key, objectKey: this.objectKey(key) };
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file.path, "r");
    } catch (err) {
      throw new StorageError(`${this.describe(x)}: opening ${file.path} failed: ${(err as Error).message}`, this.details(x), { cause: err });
    }
    try {
      const md5 = file.md5 ?? await fileMd5(handle, file.size).catch((err: unknown) => {
        throw new StorageError(`${this.describe(x)}: reading ${file.path} failed: ${(err as Error).message}`, this.details(x), { cause: err });
      });
      x.body = { byteLength: file.size, sha256: file.sha256, open: () => handle.createReadStream({ start: 0, end: file.size - 1, autoClose: false, highWaterMark: 1024 * 1024 }) };
      x.headers = { "content-md5": md5, "content-type": "application/octet-stream" };
      const res = await this.exchange(x);
      if (res.status >= 300) throw this.responseError(x, res);
    } finally {
      await handle.close();
    }
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (range && range.length <= 0) {
      if (!(await this.head(key))) throw new ObjectNotFoundError(key, this.location);
      return new Uint8Array(0);
    }
    const x: Exchange = { op: "get", method: "GET", key, objectKey: this.objectKey(key) };
    if (range) x.headers = { range: `bytes=${range.offset}-${range.offset + range.length - 1}` };
    const res = await this.exchange(x);
    if (range && res.status === 416) return new Uint8Array(0); // offset at or past the end
    if (res.status >= 300) throw this.responseError(x, res);
    const body = res.body;
    if (!range) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    if (res.status === 200) {
      // The server ignored the Range header and sent the whole object.
      const slice = body.subarray(range.offset, range.offset + range.length);
      return new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength);
    }
    const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers["content-range"] ?? ""));
    if (!cr || Number(cr[1]) !== range.offset) {
      throw new TransientStorageError(`${this.describe(x)} returned Content-Range ${JSON.stringify(res.headers["content-range"])} for bytes ${range.offset}+${range.length}`, this.details(x, res.status));
    }
    const sent = Number(cr[2]) - Number(cr[1]) + 1;
    const total = cr[3] === "*" ? undefined : Number(cr[3]);
    const expected = total === undefined ? range.length : Math.min(range.length, total - range.offset);
    if (body.byteLength !== sent || body.byteLength < expected) {
      throw new TransientStorageError(`${this.describe(x)} returned ${body.byteLength} bytes for a range of ${expected}`, this.details(x, res.status));
    }
    // Some servers send more than asked (s3rver reads "bytes=0-0" as "from 0"); keep what was asked.
    const slice = body.subarray(0, expected);
    return new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const x: Exchange = { op: "head", method: "HEAD", key, objectKey: this.objectKey(key) };
    const res = await this.exchange(x);
    if (res.status === 404) return undefined;
    if (res.status >= 300) throw this.responseError(x, res);
    const size = Number(res.headers["content-length"]);
    if (!Number.isFinite(size)) {
      throw new TransientStorageError(`${this.describe(x)} answered without a Content-Length`, this.details(x, res.status));
    }
    return { key, size };
  }

  /** One ListObjectsV2 page under the repository prefix (keys returned relative to it). */
  async listPage(prefix: string, token?: string): Promise<{ objects: ObjectInfo[]; next?: string }> {
    const full = `${this.prefix}${prefix}`;
    const query: [string, string][] = [
      ["list-type", "2"],
      ["max-keys", String(Math.min(1000, Math.max(1, this.config.listPageSize ?? 1000)))],
      ["encoding-type", "url"],
    ];
    if (full) query.push(["prefix", full]);
    if (token) query.push(["continuation-token", token]);
    const x: Exchange = { op: "list", method: "GET", key: prefix, query };
    const res = await this.exchange(x);
    if (res.status >= 300) throw this.responseError(x, res);
    const xml = res.body.toString("utf8");
    if (!/<ListBucketResult[\s>]/.test(xml)) {
      throw new TransientStorageError(`${this.describe(x)} returned an unreadable listing`, this.details(x, res.status));
    }
    const urlEncoded = xmlTag(xml, "EncodingType")?.toLowerCase() === "url";
    const objects: ObjectInfo[] = [];
    for (const block of xmlBlocks(xml, "Contents")) {
      const rawKey = xmlTag(block, "Key");
      const size = Number(xmlTag(block, "Size"));
      if (rawKey === undefined || !Number.isFinite(size)) continue;
      const key = urlEncoded ? decodeURIComponent(rawKey.replace(/\+/g, "%20")) : rawKey;
      if (!key.startsWith(full) || key.length === this.prefix.length) continue;
      objects.push({ key: key.slice(this.prefix.length), size });
    }
    const truncated = xmlTag(xml, "IsTruncated") === "true";
    const next = truncated ? xmlTag(xml, "NextContinuationToken") : undefined;
    if (truncated && !next) {
      throw new StorageError(`${this.describe(x)}: truncated listing without a continuation token`, this.details(x, res.status));
    }
    return next ? { objects, next } : { objects };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, token);
      yield* page.objects;
      token = page.next;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    const x: Exchange = { op: "delete", method: "DELETE", key, objectKey: this.objectKey(key) };
    const res = await this.exchange(x);
    if (res.status < 300) return;
    if (res.status === 404 && xmlTag(res.body.toString("utf8"), "Code") !== "NoSuchBucket") return;
    throw this.responseError(x, res);
  }

  /** DeleteObjects in batches of 1,000; single deletes where the server does not support it. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const singles: string[] = [];
    const batchable: string[] = [];
    for (const key of keys) (XML_UNSAFE.test(key) ? singles : batchable).push(key);
    const batches: string[][] = [];
    for (let i = 0; i < batchable.length; i += 1000) batches.push(batchable.slice(i, i + 1000));
    await Promise.all(
      batches.map(async (batch) => {
        if (!this.batchDelete || !(await this.deleteBatch(batch))) singles.push(...batch);
      }),
    );
    await Promise.all(singles.map((key) => this.delete(key)));
  }

  /** One DeleteObjects request; false when the server does not implement it. */
  private async deleteBatch(keys: string[]): Promise<boolean> {
    if (keys.length === 0) return true;
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>` +
      keys.map((k) => `<Object><Key>${xmlEncode(this.objectKey(k))}</Key></Object>`).join("") +
      `</Delete>`;
    const body = Buffer.from(xml, "utf8");
    const x: Exchange = {
      op: "deleteMany",
      method: "POST",
      key: `${keys.length} objects`,
      query: [["delete", ""]],
      body,
      headers: { "content-md5": createHash("md5").update(body).digest("base64"), "content-type": "application/xml" },
    };
    const res = await this.exchange(x);
    if (res.status >= 300) {
      const code = xmlTag(res.body.toString("utf8"), "Code");
      if (res.status === 501 || res.status === 405 || code === "NotImplemented" || code === "MethodNotAllowed") {
        this.batchDelete = false;
        return false;
      }
      throw this.responseError(x, res);
    }
    const text = res.body.toString("utf8");
    for (const block of xmlBlocks(text, "Error")) {
      const errCode = xmlTag(block, "Code");
      if (errCode === "NoSuchKey") continue;
      const key = (xmlTag(block, "Key") ?? "").slice(this.prefix.length);
      const err = new StorageError(
        `${this.describe(x)}: deleting ${JSON.stringify(key)} failed: ${errCode ?? "error"}${xmlTag(block, "Message") ? `: ${xmlTag(block, "Message")}` : ""}`,
        { ...this.details(x, res.status), key },
      );
      if (errCode === "AccessDenied") throw new StorageAuthError(err.message, err.details);
      if (errCode === "InternalError" || errCode === "SlowDown") throw new TransientStorageError(err.message, err.details);
      throw err;
    }
    return true;
  }

  counts(): RequestCounts {
    return { ...this.stats };
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** The base64 MD5 of a file's first `size` bytes, read in 1 MiB pieces; a file shorter than that is an error. */
async function fileMd5(handle: fs.FileHandle, size: number): Promise<string> {
  const hash = createHash("md5");
  const piece = Buffer.allocUnsafe(Math.min(size, 1024 * 1024));
  for (let at = 0; at < size; ) {
    const { bytesRead } = await handle.read(piece, 0, Math.min(piece.byteLength, size - at), at);
    if (bytesRead === 0) throw new Error(`the file ends at ${at} of ${size} bytes`);
    hash.update(piece.subarray(0, bytesRead));
    at += bytesRead;
  }
  return hash.digest("base64");
}
