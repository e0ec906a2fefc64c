// What a backup of the state folder leaves out by itself (the user's `exclude` is added to it).
// Regenerable: OpenClaw rebuilds these, and some are most of a fresh state's bytes (cache/ holds
// the Control UI's assets). Lock sidecars are small SQLite files used as locks by a running
// gateway: capturing them says nothing and they must never be restored over live ones.
export const REGENERABLE_EXCLUDES: readonly string[] = [
  "tmp/**",
  "cache/**",
  "plugin-skills/**",
  "media/**",
  "logs/**",
  // Plugin installs: reinstalled from the registry (`openclaw plugins install`).
  "extensions/**",
  "npm/**",
  // This plugin's own status (last backup, last error): per machine, rewritten by every backup.
  "clawback/**",
  "*.lock.sqlite",
  "*.generation-lock.sqlite",
  "*.generation-writer.sqlite",
  "*.reindex-lock.sqlite",
];
