// What a backup of the state folder leaves out besides what src/openclaw/secrets/ leaves out
// (secret files, regenerable folders, lock sidecars): this plugin's own status (last backup, last
// error), per machine and rewritten by every backup.
export const PLUGIN_EXCLUDES: readonly string[] = ["clawback/**"];
