import { spawnSync } from "node:child_process";

/**
 * Mounts a tmpfs of `size` (mount's notation: "1m") on the folder `dir` for a test that needs a
 * file system that fills up; returns its unmount, or undefined where mounting is not allowed
 * (not root, no CAP_SYS_ADMIN), and the test is skipped.
 */
export function mountTmpfs(dir: string, size: string): (() => void) | undefined {
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (mounted.status !== 0) return undefined;
  return () => void spawnSync("umount", [dir]);
}
