import { createHash } from "node:crypto";
import type { CommitOptions, CommitScrub } from "../../lib.ts";
import { redactConfig, EXTRA_SECRET_PATHS } from "./config-secrets.ts";
import { REGENERABLE_EXCLUDES, SECRET_FILE_EXCLUDES } from "./excludes.ts";
import { scrubDatabase } from "./scrub-database.ts";
import { AGENT_SECRET_TABLES, databaseKind, GLOBAL_SECRET_TABLES, SECRET_MACHINE_STATE_KEY_PREFIXES, SECRET_STATE_VERSION } from "./secret-state.ts";

/** `exclude` (the default): the machine's secrets stay on it. `include`: carried too, encrypted, for a full migration. */
type SecretsMode = "exclude" | "include";

export interface OpenClawCommitSettings {
  secrets?: SecretsMode;
  /** The user's own excludes, added to the defaults. */
  extraExcludes?: readonly string[];
}

/** openclaw.json and the copies OpenClaw keeps of it (.bak, .bak.1 …, .last-good), at the state folder's root. */
const CONFIG_FILE = /^openclaw\.json(?:\.bak(?:\.\d+)?|\.last-good)?$/;

/** Changes whenever what the scrub does could change: the lists, the rules' version. */
const SCRUB_ID = `openclaw-secrets/1:${createHash("sha256")
  .update(JSON.stringify([SECRET_STATE_VERSION, GLOBAL_SECRET_TABLES, SECRET_MACHINE_STATE_KEY_PREFIXES, AGENT_SECRET_TABLES, EXTRA_SECRET_PATHS]))
  .digest("hex")
  .slice(0, 16)}`;

/**
 * The scrub that keeps OpenClaw's secrets out of a commit of its state folder: the secret rows of
 * its databases (scrubDatabase) and the secret values of openclaw.json and its copies (redactConfig).
 */
const openclawSecretsScrub: CommitScrub = {
  id: SCRUB_ID,
  database(copyPath, relPath) {
    const kind = databaseKind(relPath);
    if (kind) scrubDatabase(copyPath, kind);
  },
  file: {
    selects: (relPath) => CONFIG_FILE.test(relPath),
    rewrite: (_relPath, content) => Buffer.from(redactConfig(content.toString("utf8")), "utf8"),
  },
};

/**
 * The commit options for a backup of an OpenClaw state folder (the state folder is the commit's
 * source): what is left out (see excludes.ts) and, unless secrets are included, the scrub. Pass
 * the same `scrub` to a checkout's safety snapshot and to a diff against the folder.
 */
export function openclawCommitOptions(settings: OpenClawCommitSettings = {}): Required<Pick<CommitOptions, "excludes">> & Pick<CommitOptions, "scrub"> {
  const include = settings.secrets === "include";
  const excludes = [...(include ? [] : SECRET_FILE_EXCLUDES), ...REGENERABLE_EXCLUDES, ...(settings.extraExcludes ?? [])];
  return include ? { excludes } : { excludes, scrub: openclawSecretsScrub };
}
