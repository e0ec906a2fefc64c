// Checked by bin/clawback.js before anything else loads, so it must stay loadable by old Node
// versions too: nothing here may use what it is checking for.

import { constants as perfConstants, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/**
 * The oldest Node.js major version clawback runs on: captures need node:sqlite's `backup()` with
 * its busy `timeout` option (Node 24.0), and OpenClaw itself runs on 24 (README.md, "Set-up").
 */
export const MIN_NODE_MAJOR = 24;

/** Undefined when `version` (as in process.versions.node) is new enough; else what to tell the user. */
export function unsupportedNode(version: string, execPath: string): string | undefined {
  const major = Number(version.split(".")[0]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `Node.js ${MIN_NODE_MAJOR} or newer is needed; ${execPath} is Node.js ${version}`;
}

/** The V8 flag that sets the young generation's size; it only takes effect when node starts. */
const SEMI_SPACE_FLAG = "--max-semi-space-size";

/**
 * Flags node is to be restarted with for this command line (none: run as started). A checkout
 * opens every blob with node's decipher, which returns each plaintext in a buffer of its own: with
 * node's default young generation (up to 64 MiB) those dead buffers pile up as external memory
 * until V8 starts full collections for them (19 in a checkout of the bench state). With 4 MiB
 * semi-spaces they are freed by cheap young collections (34 of them, and 4 full ones): checkouts
 * into /dev/shm took 2.36–2.44 s against 2.48–2.70 s, with a peak of 227–251 MB against 263–273 MB
 * (bench/README.md). A commit gains memory (20–45 MB) but no time, and would pay for the restart
 * on every no-change commit.
 */
export function startFlags(args: readonly string[], execArgv: readonly string[]): string[] {
  // Any argument "checkout" counts, not only the command (options may come first, some with a
  // value); a commit of a folder named so restarts too, which only sizes its young generation.
  if (!args.includes("checkout")) return [];
  if (execArgv.some((a) => a.startsWith(SEMI_SPACE_FLAG))) return [];
  return [`${SEMI_SPACE_FLAG}=4`];
}

/** Size of V8's new space (both semi-spaces) past which a command's young generation stops growing. */
export const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

/**
 * Stops the young generation from growing once it reaches YOUNG_GENERATION_CAP (every command but
 * a checkout, which is restarted with 4 MiB semi-spaces instead: startFlags). Node's default lets
 * it grow to 64 MiB semi-spaces, and a commit grows it to 32–48 MiB whose pages stay resident. The
 * cap needs no restart (which would cost every no-change commit a second node start): V8 reads
 * `--semi-space-growth-factor` each time it considers growing the young generation, so it is set
 * to 1 once the cap is reached, looked at after each young collection. First and daily commits of
 * the bench state: peak RSS about 30 and 10–25 MB lower (bench/README.md, "Commit memory"); growth
 * held from the start (1 MiB semi-spaces) saved as much but made about 3.5× as many young
 * collections.
 */
export function capYoungGeneration(args: readonly string[]): void {
  if (args.includes("checkout")) return;
  const observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR)) return;
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    if (!young || young.space_size < YOUNG_GENERATION_CAP) return;
    setFlagsFromString("--semi-space-growth-factor=1");
    observer.disconnect();
  });
  observer.observe({ entryTypes: ["gc"] });
}
