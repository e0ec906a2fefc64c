// Invariant 9 for the plugin's engine child: what a backup of an OpenClaw state folder leaves out
// or scrubs (openclawCommitOptions), and how a restore keeps the machine's own secrets
// (restoreSecrets). See docs/openclaw.md, "Secrets".
export { openclawCommitOptions, openclawSecretsScrub, type OpenClawCommitSettings, type SecretsMode } from "./commit-options.ts";
export { restoreSecrets, type RestoreSecretsOptions, type RestoreSecretsResult } from "./restore-secrets.ts";
