// The one place the engine child asks what keeps secrets out of a backup (DESIGN.md invariant 9).
// TODO(plugin-secrets branch): replace this placeholder with src/openclaw/secrets/'s
// secretsCommitOptions(stateDir, mode), which also scrubs the secret tables and rows from captured
// databases and redacts the secret values of openclaw.json and its copies (a commit transform).
import type { SecretsMode } from "../config.ts";

export interface SecretsCommitOptions {
  excludes: string[];
}

/** Files that hold only credentials: left out unless the user opts in to carrying them. */
const CREDENTIAL_FILES = ["credentials/**", ".env", "secrets.json", "auth-profiles.json", "**/auth-profiles.json"];

export function secretsCommitOptions(_stateDir: string, mode: SecretsMode): SecretsCommitOptions {
  return { excludes: mode === "include" ? [] : [...CREDENTIAL_FILES] };
}
