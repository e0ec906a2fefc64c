import * as fs from "node:fs/promises";
import * as path from "node:path";
import { isGone, thisProcess, type ProcessIdentity } from "../../repo/process-identity.ts";

/**
 * Folders of one process's temporary files (a commit's database copies, its pack files being
 * filled), named `<prefix><pid>-<start>-XXXXXX`: the pid and start time (see ProcessIdentity) say
 * whose it is, so that a later run can tell that its maker is gone even after the pid was reused
 * and remove what a killed process left behind. (In sqlite/, which imports nothing else of the
 * engine, so that both its scratch folders and commit/'s pack files can use it.)
 */
export function makePrivateFolder(parent: string, prefix: string): Promise<string> {
  const me = thisProcess();
  return fs.mkdtemp(path.join(parent, `${prefix}${me.pid}-${me.start ? `${me.start}-` : ""}`));
}

/** The maker of a private folder, from its name; undefined for a name that is not one. */
function makerOf(name: string, prefix: string): ProcessIdentity | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split("-");
  const pid = Number(parts[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // Folders of older versions have no start time: `<prefix><pid>-XXXXXX`.
  const start = parts.length >= 3 && /^\d+$/.test(parts[1]!) ? parts[1] : undefined;
  return { pid, ...(start ? { start } : {}) };
}

/**
 * Removes the private folders with this prefix in `parents` whose maker is gone (see isGone):
 * nothing else writes or reads them. Only this user's folders: another user's are not ours to
 * judge (and /tmp's sticky bit would refuse anyway).
 */
export async function removeLeftovers(parents: readonly string[], prefix: string): Promise<void> {
  const uid = process.getuid?.();
  for (const parent of parents) {
    let names: string[];
    try {
      names = await fs.readdir(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const maker = makerOf(name, prefix);
      if (!maker || !isGone(maker)) continue;
      const dir = path.join(parent, name);
      const st = await fs.lstat(dir).catch(() => undefined);
      if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
    }
  }
}
