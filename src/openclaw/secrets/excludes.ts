// What a backup of an OpenClaw state folder leaves out by default. Patterns are the engine's
// excludes (.gitignore lines): "name" and "dir/" match at any depth, "/dir/" only at the state
// folder's root (a workspace's own tmp/ or cache/ folder is user data and stays in).

/**
 * Files that hold nothing but per-machine secrets: they never reach the bucket unless the user
 * opts in (`secrets: "include"`), and a restore keeps the machine's own (the checkout keeps what
 * matches the snapshot's excludes).
 */
export const SECRET_FILE_EXCLUDES: readonly string[] = [
  "credentials/", // a folder of that name at any depth
  ".env",
  "secrets.json",
  "auth-profiles.json",
  // The HMAC key OpenClaw fingerprints config values with in its config audit records; OpenClaw
  // makes a new one when it is missing.
  "config-journal-fingerprint.key",
];

/**
 * What OpenClaw makes again by itself, or what is only meaningful while one process runs: left
 * out whatever `secrets` says.
 */
export const REGENERABLE_EXCLUDES: readonly string[] = [
  "/tmp/", // temporary files, and the gateway's lock databases (tmp/openclaw-<uid>/gateway.*.lock.sqlite)
  "/cache/", // control-UI assets and other caches: most of a fresh state's bytes
  "/plugin-skills/",
  "/media/", // generated and transcoded media
  "/logs/",
  "/extensions/", // plugin installs (npm packages: installed again, not restored)
  "/npm/",
  // SQLite files OpenClaw uses as locks beside a database, and its short-lived working copies
  // (OpenClaw's own backup leaves out the same names: SQLITE_MEMORY_TRANSIENT_PATH_PATTERN).
  "*.lock.sqlite",
  "*.sqlite.generation-lock.sqlite",
  "*.sqlite.generation-writer.sqlite",
  "*.sqlite.reindex-lock.sqlite",
  "*.sqlite.backup-*",
  "*.sqlite.memory-reindex-*",
  "*.sqlite.tmp-*",
  // Forensic copies of a config OpenClaw could not read: may hold secrets, and are not config.
  "/openclaw.json.clobbered.*",
];
