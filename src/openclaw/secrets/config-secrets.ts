import JSON5 from "json5";
import { isDeepStrictEqual } from "node:util";

// Which values of openclaw.json are secrets, and how they are taken out and put back.
//
// The rules are OpenClaw's own (2026.9.6, src/config/sensitive-paths.ts and redact-snapshot.ts:
// what `openclaw config get` prints as __OPENCLAW_REDACTED__), which its plugin SDK does not
// export and which the engine child cannot import anyway (openclaw is an optional peer of this
// package); test/openclaw/secrets/config-secrets.test.ts runs the installed OpenClaw's redaction
// on the same config and checks that everything it hides is hidden here too. Added to them: this
// plugin's own credentials, which OpenClaw's name patterns do not catch ("applicationKey",
// "passphrase").

/** What a secret value is replaced by: OpenClaw's own marker, which it refuses as real config data. */
export const REDACTED = "__OPENCLAW_REDACTED__";

/** Config paths ("." joined, "*" for any key) whose values are secrets whatever their names. */
export const EXTRA_SECRET_PATHS: readonly string[] = ["plugins.entries.clawback.config.applicationKey", "plugins.entries.clawback.config.passphrase"];

const NOT_SECRET_SUFFIXES = ["maxtokens", "maxoutputtokens", "maxinputtokens", "maxcompletiontokens", "contexttokens", "totaltokens", "tokencount", "tokenlimit", "tokenbudget", "passwordfile"];
const SECRET_NAME_PATTERNS = [/token$/i, /password/i, /secret/i, /api.?key/i, /encrypt.?key/i, /private.?key/i, /serviceaccount(?:ref)?$/i];
const URL_QUERY_SECRETS = new Set(["token", "key", "api_key", "apikey", "secret", "access_token", "auth_token", "password", "pass", "passwd", "auth", "jwt", "signature", "sig", "client_secret", "refresh_token", "id_token", "code"]);
const ENV_PLACEHOLDER = /^\$\{[^}]*\}$/;

/** OpenClaw's isSensitiveConfigPath, plus EXTRA_SECRET_PATHS. */
function isSecretConfigPath(path: string): boolean {
  if (EXTRA_SECRET_PATHS.some((p) => matchesPath(p, path))) return true;
  const lower = path.toLowerCase();
  if (lower.includes("localservice.env.")) return true;
  return !NOT_SECRET_SUFFIXES.some((s) => lower.endsWith(s)) && SECRET_NAME_PATTERNS.some((re) => re.test(path));
}

function matchesPath(pattern: string, path: string): boolean {
  const a = pattern.split(".");
  const b = path.split(".");
  return a.length === b.length && a.every((part, i) => part === "*" || part === b[i]);
}

/** Config paths whose URL values may carry credentials (OpenClaw's isSensitiveUrlConfigPath). */
function isUrlConfigPath(path: string): boolean {
  return path.endsWith(".baseUrl") || path.endsWith(".httpUrl") || path.endsWith(".cdpUrl") || path.endsWith(".request.proxy.url") || /^(?:nodeHost\.)?mcp\.servers\.[^.]+\.url$/.test(path);
}

/** True when a URL value holds a user name, a password or a query parameter that names a secret. */
function urlCarriesCredentials(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return /[?&](?:[a-z_]*token|key|api_?key|secret|password|pass|auth|jwt)=/i.test(value) || /\/\/[^/@\s]+:[^/@\s]+@/.test(value);
  }
  if (url.username || url.password) return true;
  for (const name of url.searchParams.keys()) {
    const n = name.toLowerCase();
    if (URL_QUERY_SECRETS.has(n) || /(?:^|[_-])(?:token|secret|key)$/.test(n)) return true;
  }
  return false;
}

function isConcrete(value: string): boolean {
  const trimmed = value.trim();
  return trimmed !== "" && !ENV_PLACEHOLDER.test(trimmed) && trimmed !== REDACTED;
}

function collectStrings(value: Json, found: string[]): void {
  if (typeof value === "string") {
    if (isConcrete(value)) found.push(value);
  } else if (Array.isArray(value)) value.forEach((v) => collectStrings(v, found));
  else if (value !== null && typeof value === "object") Object.values(value).forEach((v) => collectStrings(v, found));
}

/** A SecretRef ({ source, id }): its id names where the secret is (an env var, a file), it is not the secret. */
function isSecretRef(value: Record<string, unknown>): boolean {
  return typeof value.source === "string" && typeof value.id === "string";
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The config with every secret value replaced by REDACTED; `found` collects the values replaced. */
export function redactConfigValue(value: Json, found: string[] = [], prefix = ""): Json {
  if (Array.isArray(value)) {
    const path = `${prefix}[]`;
    const secret = isSecretConfigPath(prefix);
    return value.map((item) => {
      if (typeof item === "string" && secret && isConcrete(item)) {
        found.push(item);
        return REDACTED;
      }
      return redactConfigValue(item, found, path);
    });
  }
  if (value === null || typeof value !== "object") return value;
  const out: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const secret = isSecretConfigPath(path);
    if (typeof item === "string") {
      if ((secret || (isUrlConfigPath(path) && urlCarriesCredentials(item))) && isConcrete(item)) {
        found.push(item);
        out[key] = REDACTED;
      } else out[key] = item;
    } else if (secret && /serviceaccount(?:ref)?$/i.test(key) && item !== null && typeof item === "object" && !Array.isArray(item) && !isSecretRef(item)) {
      // A secret that is a whole object (a service account's JSON key): it goes as a whole.
      collectStrings(item, found);
      out[key] = REDACTED;
    } else out[key] = redactConfigValue(item, found, path);
  }
  return out;
}

const WITHHELD = `// clawback: this file could not be read as JSON5 when it was backed up, so its content was\n// withheld: it may hold secrets (OpenClaw's config does).\n`;

/**
 * openclaw.json (or one of its copies) with every secret value replaced by REDACTED. The text
 * keeps its layout and comments where it can (each secret string replaced where it stands, then
 * checked by parsing the result); otherwise, as OpenClaw writes its config, JSON with two-space
 * indents. Text that does not parse is withheld entirely (a comment saying so), never stored.
 */
export function redactConfig(text: string): string {
  const parsed = parseConfig(text);
  if (parsed === undefined) return WITHHELD;
  const found: string[] = [];
  const redacted = redactConfigValue(parsed, found);
  if (found.length === 0 && isDeepStrictEqual(redacted, parsed)) return text;
  let raw = text;
  for (const value of [...new Set(found)].sort((a, b) => b.length - a.length)) raw = raw.replaceAll(value, REDACTED);
  const check = parseConfig(raw);
  if (check !== undefined && isDeepStrictEqual(check, redacted) && !found.some((v) => raw.includes(v))) return raw;
  return `${JSON.stringify(redacted, null, 2)}\n`;
}

/**
 * The restored config with the machine's own secrets put back: every REDACTED value replaced by
 * the current config's value at the same path, or removed when the current config has none (a
 * known placeholder must never serve as a gateway token). `keep` lists paths copied whole from
 * the current config (e.g. this plugin's own entry, so the restored gateway still backs up).
 * Returns undefined when `restoredText` is not a config that parses (it is left as it is).
 */
export function restoreConfigSecrets(restoredText: string, currentText: string | undefined, keep: readonly string[][] = []): string | undefined {
  const restored = parseConfig(restoredText);
  if (restored === undefined || restored === null || typeof restored !== "object" || Array.isArray(restored)) return undefined;
  const current = currentText === undefined ? undefined : parseConfig(currentText);
  const merged = putBack(restored, current) as { [key: string]: Json };
  for (const path of keep) {
    const value = getPath(current, path);
    if (value === undefined) continue;
    setPath(merged, path, value);
  }
  if (isDeepStrictEqual(merged, restored)) return restoredText;
  return `${JSON.stringify(merged, null, 2)}\n`;
}

function putBack(value: Json, current: Json | undefined): Json | undefined {
  if (value === REDACTED) return current;
  if (Array.isArray(value)) {
    const cur = Array.isArray(current) ? current : [];
    return value.map((item, i) => putBack(item, cur[i])).filter((item): item is Json => item !== undefined);
  }
  if (value === null || typeof value !== "object") return value;
  const cur = current !== null && typeof current === "object" && !Array.isArray(current) ? current : {};
  const out: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) {
    const next = putBack(item, cur[key]);
    if (next !== undefined) out[key] = next;
  }
  return out;
}

function getPath(value: Json | undefined, path: readonly string[]): Json | undefined {
  let at = value;
  for (const part of path) {
    if (at === null || typeof at !== "object" || Array.isArray(at) || !Object.hasOwn(at, part)) return undefined;
    at = at[part];
  }
  return at;
}

function setPath(root: { [key: string]: Json }, path: readonly string[], value: Json): void {
  let at = root;
  for (const part of path.slice(0, -1)) {
    const next = at[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) at[part] = {};
    at = at[part] as { [key: string]: Json };
  }
  at[path[path.length - 1]!] = value;
}

/** OpenClaw reads its config as JSON5 (and writes JSON): a file it accepts is one this reads. */
function parseConfig(text: string): Json | undefined {
  try {
    return JSON5.parse(text) as Json;
  } catch {
    return undefined;
  }
}
