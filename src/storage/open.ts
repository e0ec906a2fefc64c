import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, UsageError } from "../errors.ts";
import type { Backend } from "./backend.ts";
import type { B2Access } from "./b2.ts";
import { LocalBackend } from "./local.ts";
import { withRetries, type RetryOptions } from "./retry.ts";

/**
 * Settings a backend may need beyond its URL (credentials come from here or the environment,
 * never from the URL). Every field is optional; docs/storage.md lists the environment variables.
 */
export interface BackendOptions {
  /** Environment to read settings from (default process.env). */
  env?: Record<string, string | undefined>;

  // s3://bucket/prefix
  /** S3 endpoint URL (env CLAWBACK_S3_ENDPOINT; default https://s3.<region>.amazonaws.com). */
  endpoint?: string;
  /** Signing region (env AWS_REGION, then AWS_DEFAULT_REGION; default us-east-1). */
  region?: string;
  /** env AWS_ACCESS_KEY_ID */
  accessKeyId?: string;
  /** env AWS_SECRET_ACCESS_KEY */
  secretAccessKey?: string;
  /** env AWS_SESSION_TOKEN (temporary credentials) */
  sessionToken?: string;
  /** Path-style addressing (default true; env CLAWBACK_S3_PATH_STYLE=false for virtual-hosted). */
  pathStyle?: boolean;

  // b2://bucket/prefix
  /** env B2_APPLICATION_KEY_ID */
  keyId?: string;
  /** env B2_APPLICATION_KEY */
  applicationKey?: string;
  /** B2 API base URL for b2_authorize_account (env CLAWBACK_B2_AUTH_URL; default https://api.backblazeb2.com). */
  b2AuthUrl?: string;
  /** Capabilities the B2 key must have: "read" (listFiles, readFiles) or "readwrite" (default; plus writeFiles, deleteFiles). */
  access?: B2Access;

  // s3 and b2
  /** Requests in flight at once (default 32, see S3Backend). */
  concurrency?: number;
  /** Abort a request whose connection is silent this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Abort a request that takes longer than this overall (default 10 min). */
  requestTimeoutMs?: number;
  /** Keys per listing page (default 1,000). */
  listPageSize?: number;
  /** Retry policy for transient failures, or false for none (default: retries on, see retry.ts). */
  retry?: RetryOptions | false;
}

export interface ParsedRemoteUrl {
  scheme: "s3" | "b2";
  bucket: string;
  prefix: string;
}

/** Hides anything between "//" and "@" so an URL with credentials in it is never printed. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** Parses s3://bucket/prefix or b2://bucket/prefix. */
export function parseRemoteUrl(url: string): ParsedRemoteUrl {
  const m = /^(s3|b2):\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (!m) throw new UsageError(`invalid repository URL ${JSON.stringify(redact(url))}: expected s3://bucket/prefix or b2://bucket/prefix`);
  const scheme = m[1]!.toLowerCase() as "s3" | "b2";
  const bucket = m[2]!;
  if (bucket.includes("@")) {
    throw new UsageError(`repository URL ${JSON.stringify(redact(url))} carries credentials: pass them as options or environment variables instead`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(bucket)) {
    throw new UsageError(`invalid bucket name ${JSON.stringify(bucket)} in ${JSON.stringify(url)}`);
  }
  let prefix = m[3] ?? "";
  try {
    prefix = decodeURIComponent(prefix);
  } catch {
    throw new UsageError(`invalid percent-encoding in ${JSON.stringify(url)}`);
  }
  prefix = prefix.replace(/^\/+|\/+$/g, "").replace(/\/{2,}/g, "/");
  return { scheme, bucket, prefix: prefix ? `${prefix}/` : "" };
}

function pick(value: string | undefined, env: Record<string, string | undefined>, ...names: string[]): string | undefined {
  if (value !== undefined && value !== "") return value;
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== "") return v;
  }
  return undefined;
}

function remoteTuning(options: BackendOptions) {
  return {
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.listPageSize !== undefined ? { listPageSize: options.listPageSize } : {}),
  };
}

/**
 * Opens the backend a repository URL names: file:///path (or a plain path), s3://bucket/prefix,
 * b2://bucket/prefix. Remote backends come wrapped in the retry decorator (unless retry: false).
 * Their modules load only when used: importing node:http costs a local repository's commands
 * about 40 ms at start.
 */
export async function openBackend(url: string, options: BackendOptions = {}): Promise<Backend> {
  if (url.startsWith("file://")) return new LocalBackend(fileURLToPath(url));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return new LocalBackend(path.resolve(url));
  if (!/^(s3|b2):\/\//i.test(url)) {
    throw new UsageError(`unsupported repository URL scheme in ${JSON.stringify(redact(url))}: use file://, s3:// or b2://`);
  }
  const env = options.env ?? process.env;
  const { scheme, bucket, prefix } = parseRemoteUrl(url);
  const retry = options.retry ?? {};

  if (scheme === "s3") {
    const region = pick(options.region, env, "AWS_REGION", "AWS_DEFAULT_REGION") ?? "us-east-1";
    const endpoint = pick(options.endpoint, env, "CLAWBACK_S3_ENDPOINT") ?? `https://s3.${region}.amazonaws.com`;
    const accessKeyId = pick(options.accessKeyId, env, "AWS_ACCESS_KEY_ID");
    const secretAccessKey = pick(options.secretAccessKey, env, "AWS_SECRET_ACCESS_KEY");
    if (!accessKeyId) throw new ConfigError("AWS_ACCESS_KEY_ID", `no S3 access key ID for ${url} (set accessKeyId or AWS_ACCESS_KEY_ID)`);
    if (!secretAccessKey) throw new ConfigError("AWS_SECRET_ACCESS_KEY", `no S3 secret access key for ${url} (set secretAccessKey or AWS_SECRET_ACCESS_KEY)`);
    try {
      new URL(endpoint);
    } catch {
      throw new ConfigError("CLAWBACK_S3_ENDPOINT", `invalid S3 endpoint URL ${JSON.stringify(redact(endpoint))}`);
    }
    const sessionToken = pick(options.sessionToken, env, "AWS_SESSION_TOKEN");
    const pathStyleEnv = env.CLAWBACK_S3_PATH_STYLE;
    const pathStyle = options.pathStyle ?? (pathStyleEnv === undefined ? true : !/^(0|false|no)$/i.test(pathStyleEnv));
    const { S3Backend } = await import("./s3.ts");
    const backend = new S3Backend({
      endpoint,
      region,
      bucket,
      prefix,
      credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      pathStyle,
      ...remoteTuning(options),
    });
    return retry === false ? backend : withRetries(backend, retry);
  }

  const keyId = pick(options.keyId, env, "B2_APPLICATION_KEY_ID");
  const applicationKey = pick(options.applicationKey, env, "B2_APPLICATION_KEY");
  if (!keyId) throw new ConfigError("B2_APPLICATION_KEY_ID", `no B2 application key ID for ${url} (set keyId or B2_APPLICATION_KEY_ID)`);
  if (!applicationKey) throw new ConfigError("B2_APPLICATION_KEY", `no B2 application key for ${url} (set applicationKey or B2_APPLICATION_KEY)`);
  const authUrl = pick(options.b2AuthUrl, env, "CLAWBACK_B2_AUTH_URL");
  const region = pick(options.region, env);
  const { openB2Backend } = await import("./b2.ts");
  const backend = await openB2Backend({
    bucket,
    prefix,
    keyId,
    applicationKey,
    ...(authUrl ? { authUrl } : {}),
    ...(options.access ? { access: options.access } : {}),
    ...(region ? { fallbackRegion: region } : {}),
    retry,
    ...remoteTuning(options),
  });
  return retry === false ? backend : withRetries(backend, retry);
}
