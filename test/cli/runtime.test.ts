import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MIN_NODE_MAJOR, unsupportedNode } from "../../src/cli/runtime.ts";

const bin = fileURLToPath(new URL("../../bin/clawback.js", import.meta.url));
// An older Node beside the one running the tests (the machines this project is set up on have one:
// .ci/run provisions Node 24 next to it).
const older = ["/usr/bin/node", "/usr/local/bin/node"]
  .map((path) => ({ path, version: spawnSync(path, ["-p", "process.versions.node"], { encoding: "utf8" }) }))
  .find(({ version }) => version.status === 0 && Number(version.stdout.split(".")[0]) < MIN_NODE_MAJOR);

describe("Node.js version check", () => {
  it("accepts the supported major versions and refuses older ones by name", () => {
    expect(unsupportedNode(`${MIN_NODE_MAJOR}.0.0`, "/usr/bin/node")).toBeUndefined();
    expect(unsupportedNode("26.1.0", "/usr/bin/node")).toBeUndefined();
    expect(unsupportedNode("20.20.2", "/usr/bin/node")).toBe(`Node.js ${MIN_NODE_MAJOR} or newer is needed; /usr/bin/node is Node.js 20.20.2`);
    expect(unsupportedNode("not-a-version", "/x/node")).toContain("/x/node is Node.js not-a-version");
  });

  it("the installed command starts on this Node", () => {
    // bin/clawback.js loads the compiled CLI; `npm install` builds it (the prepare script).
    const out = execFileSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(out).toContain("usage: clawback");
  });

  it.skipIf(!older)("an older Node gets that message from the command, not a syntax error", () => {
    const r = spawnSync(older!.path, [bin, "--help"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`clawback: Node.js ${MIN_NODE_MAJOR} or newer is needed; ${older!.path} is Node.js ${older!.version.stdout.trim()}\n`);
  });
});
