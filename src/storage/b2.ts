// Backblaze B2: authorize with the native API (b2_authorize_account v3), check that the key may use
// the bucket and has the capabilities the repository needs, take the S3 endpoint and region from
// `apiInfo.storageApi.s3ApiUrl`, then talk S3 (./s3.ts) with the same key.
//
// Deleting through the S3 API only hides a file on B2; the bytes stay (and are billed) until a
// lifecycle rule removes hidden versions. `diagnose()` reads the bucket's lifecycle rules and says
// when they are missing (docs/storage.md has the rule).

import { StorageAuthError, StorageError, TransientStorageError } from "../errors.ts";
import { HttpFailure, httpRequest, parseRetryAfter, type HttpResponse } from "./http.ts";
import { withRetry, type RetryOptions } from "./retry.ts";
import { normalizePrefix, S3Backend, type S3Config } from "./s3.ts";

const B2_DEFAULT_AUTH_URL = "https://api.backblazeb2.com";

/** What the repository will be used for; decides which capabilities the key must have. */
export type B2Access = "read" | "readwrite";

const B2_REQUIRED_CAPABILITIES: Record<B2Access, readonly string[]> = {
  read: ["listFiles", "readFiles"],
  readwrite: ["listFiles", "readFiles", "writeFiles", "deleteFiles"],
};

export interface B2Authorization {
  accountId: string;
  authorizationToken: string;
  apiUrl: string;
  s3ApiUrl: string;
  /** Region taken from s3ApiUrl, when it has one. */
  region: string | undefined;
  /** Buckets the key is restricted to; null when it may use every bucket. */
  allowedBuckets: { id: string | null; name: string | null }[] | null;
  capabilities: string[];
  /** File-name prefix the key is restricted to, if any. */
  namePrefix: string | null;
}

export interface B2LifecycleRule {
  fileNamePrefix?: string | null;
  daysFromUploadingToHiding?: number | null;
  daysFromHidingToDeleting?: number | null;
}

/**
 * The region in a B2 S3 endpoint: "https://s3.us-west-004.backblazeb2.com" → "us-west-004".
 * Undefined when the host has no region label (a local test server, a proxy).
 */
export function regionFromS3ApiUrl(s3ApiUrl: string): string | undefined {
  let host: string;
  try {
    host = new URL(s3ApiUrl.includes("://") ? s3ApiUrl : `https://${s3ApiUrl}`).hostname.toLowerCase().replace(/\.$/, "");
  } catch {
    return undefined;
  }
  const labels = host.split(".");
  if (labels.length >= 3 && labels[0] === "s3" && /^[a-z]{2,}-[a-z]+-\d+$/.test(labels[1]!)) return labels[1];
  const dashed = /^s3[.-]([a-z]{2,}-[a-z]+-\d+)\./.exec(host);
  return dashed ? dashed[1] : undefined;
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function asString(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/**
 * Reads a b2_authorize_account answer. v3 keeps the key's restrictions in
 * `apiInfo.storageApi.allowed` ({ buckets: [{ id, name }] | null, capabilities, namePrefix });
 * older answers (and some documentation) put bucketId/bucketName/capabilities/namePrefix beside
 * it or in a top-level `allowed`. All three shapes are accepted.
 */
export function parseAuthorizeResponse(json: unknown): B2Authorization {
  const top = asObject(json);
  const storage = asObject(asObject(top?.apiInfo)?.storageApi) ?? top;
  const s3ApiUrl = asString(storage?.s3ApiUrl);
  if (!top || !storage || !s3ApiUrl) {
    throw new StorageError("B2 authorization answer has no apiInfo.storageApi.s3ApiUrl", { operation: "authorize" });
  }
  const allowed = asObject(storage.allowed) ?? asObject(top.allowed) ?? storage;
  let allowedBuckets: B2Authorization["allowedBuckets"] = null;
  if (Array.isArray(allowed.buckets)) {
    allowedBuckets = allowed.buckets.map((b) => ({ id: asString(asObject(b)?.id), name: asString(asObject(b)?.name) }));
  } else if (asString(allowed.bucketId) || asString(allowed.bucketName)) {
    allowedBuckets = [{ id: asString(allowed.bucketId), name: asString(allowed.bucketName) }];
  }
  const capabilities = Array.isArray(allowed.capabilities) ? allowed.capabilities.filter((c): c is string => typeof c === "string") : [];
  return {
    accountId: asString(top.accountId) ?? "",
    authorizationToken: asString(top.authorizationToken) ?? "",
    apiUrl: asString(storage.apiUrl) ?? "",
    s3ApiUrl,
    region: regionFromS3ApiUrl(s3ApiUrl),
    allowedBuckets,
    capabilities,
    namePrefix: asString(allowed.namePrefix),
  };
}

/** Replaces any trace of the key in a server message (B2 sometimes echoes what it was given). */
function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}

interface B2AuthorizeOptions {
  keyId: string;
  applicationKey: string;
  /** Base URL of the B2 API (default https://api.backblazeb2.com; tests point it at an emulator). */
  authUrl?: string;
  /** Bucket named in error messages. */
  bucket: string;
  timeoutMs?: number;
  retry?: RetryOptions | false;
}

/** Calls b2_authorize_account (v3), with the usual retries for transient failures. */
async function authorizeB2(options: B2AuthorizeOptions): Promise<B2Authorization> {
  const base = (options.authUrl ?? B2_DEFAULT_AUTH_URL).replace(/\/+$/, "");
  const url = new URL(`${base}/b2api/v3/b2_authorize_account`);
  const where = `B2 authorize for bucket ${JSON.stringify(options.bucket)} (${url.origin})`;
  const details = { operation: "authorize", location: `b2://${options.bucket}` };
  const secrets = [options.keyId, options.applicationKey];
  const once = async (): Promise<B2Authorization> => {
    let res: HttpResponse;
    try {
      res = await httpRequest({
        method: "GET",
        url,
        headers: {
          host: url.host,
          authorization: `Basic ${Buffer.from(`${options.keyId}:${options.applicationKey}`).toString("base64")}`,
          "user-agent": "clawback",
        },
        idleTimeoutMs: options.timeoutMs ?? 30_000,
        requestTimeoutMs: (options.timeoutMs ?? 30_000) * 2,
      });
    } catch (err) {
      if (err instanceof HttpFailure) {
        const message = `${where} failed: ${err.message}`;
        throw err.transient ? new TransientStorageError(message, details, { cause: err }) : new StorageError(message, details, { cause: err });
      }
      throw err;
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = asObject(JSON.parse(res.body.toString("utf8")));
    } catch {
      body = undefined;
    }
    if (res.status === 200 && body) return parseAuthorizeResponse(body);
    const code = asString(body?.code);
    const detail = asString(body?.message);
    const message = scrub(`${where} failed: ${res.status}${code ? ` ${code}` : ""}${detail ? `: ${detail}` : ""}`, secrets);
    const withStatus = { ...details, status: res.status };
    if (res.status === 401 || res.status === 403) {
      throw new StorageAuthError(`${message} (the application key ID or application key is wrong, expired or revoked)`, withStatus);
    }
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      throw new TransientStorageError(message, withStatus, retryAfterMs === undefined ? undefined : { retryAfterMs });
    }
    if (res.status === 200) throw new TransientStorageError(`${where}: unreadable answer`, withStatus);
    throw new StorageError(message, withStatus);
  };
  return options.retry === false ? once() : withRetry("authorize", undefined, once, options.retry ?? {});
}

/**
 * Refuses a key that cannot serve this repository: restricted to another bucket or to another
 * name prefix, or missing a capability `access` needs. The message says which.
 */
function checkB2Access(auth: B2Authorization, bucket: string, prefix: string, access: B2Access = "readwrite"): void {
  const details = { operation: "authorize", location: `b2://${bucket}/${prefix}` };
  if (auth.allowedBuckets !== null) {
    const names = auth.allowedBuckets.map((b) => b.name);
    if (!names.includes(bucket)) {
      const which = names.filter((n): n is string => n !== null);
      throw new StorageAuthError(
        `the B2 application key is restricted to bucket${which.length === 1 ? "" : "s"} ${which.length ? which.map((n) => JSON.stringify(n)).join(", ") : "(a deleted bucket)"} and cannot use bucket ${JSON.stringify(bucket)}: create a key for bucket ${JSON.stringify(bucket)}, or point the repository at the key's bucket`,
        details,
      );
    }
  }
  if (auth.namePrefix && !prefix.startsWith(auth.namePrefix)) {
    throw new StorageAuthError(
      `the B2 application key is restricted to file names starting with ${JSON.stringify(auth.namePrefix)} in bucket ${JSON.stringify(bucket)}, but the repository is at ${JSON.stringify(prefix || "/")}: use a prefix under ${JSON.stringify(auth.namePrefix)}`,
      details,
    );
  }
  const missing = B2_REQUIRED_CAPABILITIES[access].filter((c) => !auth.capabilities.includes(c));
  if (missing.length > 0) {
    throw new StorageAuthError(
      `the B2 application key for bucket ${JSON.stringify(bucket)} lacks the capabilit${missing.length === 1 ? "y" : "ies"} ${missing.join(", ")} (a ${access === "read" ? "read-only" : "backup"} repository needs ${B2_REQUIRED_CAPABILITIES[access].join(", ")}): create a key with ${access === "read" ? "read" : "read and write"} access to this bucket`,
      details,
    );
  }
}

/** Warnings about a bucket's lifecycle rules as they apply to the repository prefix. */
export function lifecycleWarnings(bucket: string, prefix: string, rules: readonly B2LifecycleRule[]): string[] {
  const applicable = rules.filter((r) => prefix.startsWith(r.fileNamePrefix ?? ""));
  const warnings: string[] = [];
  for (const r of applicable) {
    if (r.daysFromUploadingToHiding !== null && r.daysFromUploadingToHiding !== undefined) {
      warnings.push(
        `B2 bucket ${JSON.stringify(bucket)} has a lifecycle rule (prefix ${JSON.stringify(r.fileNamePrefix ?? "")}) that hides files ${r.daysFromUploadingToHiding} days after upload: it would make backup data disappear. Remove daysFromUploadingToHiding from that rule.`,
      );
    }
  }
  const deletes = applicable.some((r) => typeof r.daysFromHidingToDeleting === "number" && r.daysFromHidingToDeleting >= 1);
  if (!deletes) {
    warnings.push(
      `B2 bucket ${JSON.stringify(bucket)} keeps every hidden version: objects that prune deletes through the S3 API are only hidden and still billed. Add the lifecycle rule "Keep only the last version of the file" (fileNamePrefix ${JSON.stringify(prefix)} or "", daysFromHidingToDeleting: 1, daysFromUploadingToHiding: null); see docs/storage.md.`,
    );
  }
  return warnings;
}

export interface B2Config {
  bucket: string;
  prefix?: string;
  keyId: string;
  applicationKey: string;
  authUrl?: string;
  access?: B2Access;
  /** Region to sign with when s3ApiUrl has none (default us-east-1). */
  fallbackRegion?: string;
  /** Overrides the S3 endpoint from s3ApiUrl (e.g. through a proxy); the region still comes from s3ApiUrl. */
  s3Endpoint?: string;
  concurrency?: number;
  idleTimeoutMs?: number;
  requestTimeoutMs?: number;
  listPageSize?: number;
  retry?: RetryOptions | false;
}

/** S3 over B2's S3 API, with the native API used for authorization and the lifecycle check. */
export class B2Backend extends S3Backend {
  private auth: B2Authorization;
  private readonly b2: B2Config;

  constructor(config: B2Config, auth: B2Authorization) {
    const s3: S3Config = {
      endpoint: config.s3Endpoint ?? auth.s3ApiUrl,
      region: auth.region ?? config.fallbackRegion ?? "us-east-1",
      bucket: config.bucket,
      prefix: config.prefix ?? "",
      credentials: { accessKeyId: config.keyId, secretAccessKey: config.applicationKey },
      pathStyle: true,
      scheme: "b2",
      ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
      ...(config.idleTimeoutMs !== undefined ? { idleTimeoutMs: config.idleTimeoutMs } : {}),
      ...(config.requestTimeoutMs !== undefined ? { requestTimeoutMs: config.requestTimeoutMs } : {}),
      ...(config.listPageSize !== undefined ? { listPageSize: config.listPageSize } : {}),
    };
    super(s3);
    this.auth = auth;
    this.b2 = config;
  }

  /** What b2_authorize_account said about the key (refreshed when its token expires). */
  get authorization(): B2Authorization {
    return this.auth;
  }

  /**
   * Warnings for `check`: reads the bucket's lifecycle rules (b2_list_buckets, which needs the
   * listBuckets capability) and says when hidden versions are never removed, or when a rule would
   * hide backup data. When the key cannot read the rules, says so.
   */
  async diagnose(): Promise<string[]> {
    if (!this.auth.capabilities.includes("listBuckets") || !this.auth.apiUrl) {
      return [
        `cannot read the lifecycle rules of B2 bucket ${JSON.stringify(this.bucket)} (the key lacks listBuckets): make sure the bucket keeps only the last version of each file (daysFromHidingToDeleting: 1), or deleted data stays billed; see docs/storage.md.`,
      ];
    }
    let res = await this.listBuckets();
    if (res.status === 401) {
      // The native-API token lives 24 hours; a long-running process re-authorizes once.
      this.auth = await authorizeB2({
        keyId: this.b2.keyId,
        applicationKey: this.b2.applicationKey,
        bucket: this.bucket,
        ...(this.b2.authUrl !== undefined ? { authUrl: this.b2.authUrl } : {}),
        retry: false,
      });
      res = await this.listBuckets();
    }
    if (res.status !== 200) {
      return [`cannot read the lifecycle rules of B2 bucket ${JSON.stringify(this.bucket)} (${res.status}); see docs/storage.md for the rule it needs.`];
    }
    const parsed = asObject(JSON.parse(res.body.toString("utf8")));
    const buckets = Array.isArray(parsed?.buckets) ? parsed.buckets : [];
    const found = buckets.map(asObject).find((b) => b?.bucketName === this.bucket);
    if (!found) return [`B2 did not list bucket ${JSON.stringify(this.bucket)}; cannot check its lifecycle rules.`];
    const rules = Array.isArray(found.lifecycleRules) ? (found.lifecycleRules as B2LifecycleRule[]) : [];
    return lifecycleWarnings(this.bucket, this.prefix, rules);
  }

  /** b2_list_buckets for this bucket; transient failures throw (the retry decorator retries them). */
  private async listBuckets(): Promise<HttpResponse> {
    const auth = this.auth;
    const url = new URL(`${auth.apiUrl.replace(/\/+$/, "")}/b2api/v3/b2_list_buckets`);
    const body = Buffer.from(JSON.stringify({ accountId: auth.accountId, bucketName: this.bucket }));
    const details = { operation: "diagnose", location: this.location };
    let res: HttpResponse;
    try {
      res = await httpRequest({
        method: "POST",
        url,
        headers: { host: url.host, authorization: auth.authorizationToken, "content-type": "application/json", "user-agent": "clawback" },
        body,
        idleTimeoutMs: 30_000,
      });
    } catch (err) {
      throw new TransientStorageError(`B2 list buckets for ${JSON.stringify(this.bucket)} failed: ${(err as Error).message}`, details, { cause: err });
    }
    if (res.status === 429 || res.status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      throw new TransientStorageError(`B2 list buckets for ${JSON.stringify(this.bucket)} failed: ${res.status}`, { ...details, status: res.status }, retryAfterMs === undefined ? undefined : { retryAfterMs });
    }
    return res;
  }
}

/** Authorizes, checks the key against the bucket, prefix and access, and returns the backend. */
export async function openB2Backend(config: B2Config): Promise<B2Backend> {
  const auth = await authorizeB2({
    keyId: config.keyId,
    applicationKey: config.applicationKey,
    bucket: config.bucket,
    ...(config.authUrl !== undefined ? { authUrl: config.authUrl } : {}),
    ...(config.retry !== undefined ? { retry: config.retry } : {}),
  });
  checkB2Access(auth, config.bucket, normalizePrefix(config.prefix), config.access ?? "readwrite");
  return new B2Backend(config, auth);
}
