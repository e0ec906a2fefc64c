// The plugin's settings: read from plugins.entries.clawback.config (and, for the three B2 fields,
// the environment), checked, and turned into what the rest of the plugin needs. A bad setting is
// one ConfigError naming the key; the gateway keeps running and the plugin reports it.
import { Cron } from "croner";
import { ConfigError } from "../errors.ts";
import type { SecretsMode } from "./secrets/commit-options.ts";

/** `exclude` (the default): secrets stay on the machine; `include`: carried, encrypted (src/openclaw/secrets/). */
export type { SecretsMode };

export interface Retention {
  keepLast: number;
  keepDaily?: number;
  keepWeekly?: number;
}

/** Where the repository lives and how the engine child reaches it (credentials included). */
export interface RepoTarget {
  url: string;
  /** B2 key (for b2://) or S3 access key (for s3://), when the config gives them. */
  keyId?: string;
  applicationKey?: string;
  passphrase: string;
}

export interface PluginSettings {
  target: RepoTarget;
  /** True when the B2 application key also wraps the master key (no recovery passphrase set). */
  passphraseIsApplicationKey: boolean;
  /** A cron expression, or null when scheduled backups are off. */
  cron: string | null;
  /** What the user wrote: daily, weekly, off, or the expression. */
  schedule: string;
  retention: Retention;
  exclude: string[];
  secrets: SecretsMode;
}

const DEFAULT_PREFIX = "openclaw";
const DEFAULT_KEEP_LAST = 10;
const SCHEDULES: Record<string, string | null> = { daily: "0 0 * * *", weekly: "0 0 * * 0", off: null };
const KNOWN_KEYS = new Set(["keyId", "applicationKey", "bucket", "prefix", "passphrase", "schedule", "retention", "exclude", "secrets", "repository"]);

function optionalString(raw: Record<string, unknown>, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ConfigError(key, `must be a string, got ${typeof v}`);
  return v;
}

function fromEnv(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function count(raw: Record<string, unknown>, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new ConfigError(`retention.${key}`, `must be a whole number of 0 or more, got ${JSON.stringify(v)}`);
  return v;
}

function parseRetention(v: unknown): Retention {
  if (v === undefined || v === null) return { keepLast: DEFAULT_KEEP_LAST };
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError("retention", "must be an object like { \"keepLast\": 10, \"keepDaily\": 7 }");
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!["keepLast", "keepDaily", "keepWeekly"].includes(k)) throw new ConfigError(`retention.${k}`, "unknown setting (keepLast, keepDaily, keepWeekly)");
  const keepLast = count(r, "keepLast") ?? DEFAULT_KEEP_LAST;
  const keepDaily = count(r, "keepDaily");
  const keepWeekly = count(r, "keepWeekly");
  if (keepLast === 0 && !keepDaily && !keepWeekly) throw new ConfigError("retention", "keeps no snapshot at all (keepLast 0 and no keepDaily or keepWeekly)");
  return { keepLast, ...(keepDaily !== undefined ? { keepDaily } : {}), ...(keepWeekly !== undefined ? { keepWeekly } : {}) };
}

function parseSchedule(v: unknown): { schedule: string; cron: string | null } {
  if (v === undefined || v === null || v === "") return { schedule: "daily", cron: SCHEDULES.daily! };
  if (typeof v !== "string") throw new ConfigError("schedule", `must be "daily", "weekly", "off" or a cron expression, got ${typeof v}`);
  const s = v.trim();
  if (s in SCHEDULES) return { schedule: s, cron: SCHEDULES[s]! };
  try {
    new Cron(s, { paused: true }).stop();
  } catch (err) {
    throw new ConfigError("schedule", `"${s}" is not "daily", "weekly", "off" or a valid cron expression (${(err as Error).message})`);
  }
  return { schedule: s, cron: s };
}

function parseExclude(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((p) => typeof p !== "string")) throw new ConfigError("exclude", "must be a list of patterns, e.g. [\"workspace/big/\", \"*.tmp\"]");
  return v as string[];
}

function parseRepository(v: string): string {
  if (/^[a-z0-9]+:\/\/[^/]*@/i.test(v)) throw new ConfigError("repository", "carries credentials in the URL: put them in keyId and applicationKey (or the environment) instead");
  if (/^file:\/\/\//.test(v) || /^s3:\/\/[^/]+/.test(v) || /^b2:\/\/[^/]+/.test(v)) return v;
  throw new ConfigError("repository", `"${v.replace(/\/\/[^@/]*@/, "//***@")}" is not a file:///path, s3://bucket/prefix or b2://bucket/prefix URL`);
}

/**
 * Reads the plugin's config. `env` supplies B2_APPLICATION_KEY_ID, B2_APPLICATION_KEY and
 * B2_BUCKET_NAME when the config leaves them out. Throws ConfigError naming the first bad key.
 */
export function parseSettings(raw: Record<string, unknown> | undefined, env: Record<string, string | undefined>): PluginSettings {
  const cfg = raw ?? {};
  if (typeof cfg !== "object" || Array.isArray(cfg)) throw new ConfigError("config", "must be an object");
  for (const k of Object.keys(cfg)) if (!KNOWN_KEYS.has(k)) throw new ConfigError(k, `unknown setting (known: ${[...KNOWN_KEYS].join(", ")})`);
  const repository = optionalString(cfg, "repository");
  const keyId = optionalString(cfg, "keyId") ?? fromEnv(env, "B2_APPLICATION_KEY_ID");
  const applicationKey = optionalString(cfg, "applicationKey") ?? fromEnv(env, "B2_APPLICATION_KEY");
  const bucket = optionalString(cfg, "bucket") ?? fromEnv(env, "B2_BUCKET_NAME");
  const passphrase = optionalString(cfg, "passphrase");
  const prefixRaw = optionalString(cfg, "prefix") ?? DEFAULT_PREFIX;
  const prefix = prefixRaw.replace(/^\/+|\/+$/g, "");

  let url: string;
  if (repository) url = parseRepository(repository);
  else {
    if (!keyId) throw new ConfigError("keyId", "is missing: set plugins.entries.clawback.config.keyId (or B2_APPLICATION_KEY_ID) to your B2 application key ID");
    if (!applicationKey) throw new ConfigError("applicationKey", "is missing: set plugins.entries.clawback.config.applicationKey (or B2_APPLICATION_KEY) to your B2 application key");
    if (!bucket) throw new ConfigError("bucket", "is missing: set plugins.entries.clawback.config.bucket (or B2_BUCKET_NAME) to your B2 bucket's name");
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(bucket)) throw new ConfigError("bucket", `"${bucket}" is not a valid bucket name`);
    if (!/^[A-Za-z0-9._\-/]*$/.test(prefix)) throw new ConfigError("prefix", `"${prefixRaw}" may only hold letters, digits, ".", "_", "-" and "/"`);
    url = `b2://${bucket}${prefix ? `/${prefix}` : ""}`;
  }
  const effectivePassphrase = passphrase ?? applicationKey;
  if (!effectivePassphrase) throw new ConfigError("passphrase", `is missing: the repository ${url.split(":")[0]}:// has no application key to use as its passphrase, so set one`);
  const secrets = optionalString(cfg, "secrets") ?? "exclude";
  if (secrets !== "exclude" && secrets !== "include") throw new ConfigError("secrets", `must be "exclude" (the default) or "include", got "${secrets}"`);
  return {
    target: { url, ...(keyId ? { keyId } : {}), ...(applicationKey ? { applicationKey } : {}), passphrase: effectivePassphrase },
    passphraseIsApplicationKey: passphrase === undefined,
    ...parseSchedule(cfg.schedule),
    retention: parseRetention(cfg.retention),
    exclude: parseExclude(cfg.exclude),
    secrets,
  };
}
