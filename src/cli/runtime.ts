// Checked by bin/clawback.js before anything else loads, so it must stay loadable by old Node
// versions too: nothing here may use what it is checking for.

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
