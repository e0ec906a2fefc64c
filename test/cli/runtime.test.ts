import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { MIN_NODE_MAJOR, startFlags, unsupportedNode, YOUNG_GENERATION_CAP } from "../../src/cli/runtime.ts";

const bin = fileURLToPath(new URL("../../bin/clawback.js", import.meta.url));
const runtimeTs = fileURLToPath(new URL("../../src/cli/runtime.ts", import.meta.url));
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

describe("flags node is restarted with", () => {
  it("a small young generation for checkout only, and only once", () => {
    expect(startFlags(["checkout", "latest", "dir"], [])).toEqual(["--max-semi-space-size=4"]);
    expect(startFlags(["--repo", "r", "checkout", "latest", "dir"], ["--no-warnings"])).toEqual(["--max-semi-space-size=4"]);
    expect(startFlags(["checkout", "latest", "dir"], ["--max-semi-space-size=4"])).toEqual([]);
    expect(startFlags(["checkout", "latest", "dir"], ["--max-semi-space-size=16"])).toEqual([]);
    expect(startFlags(["commit", "dir"], [])).toEqual([]);
    expect(startFlags(["log"], [])).toEqual([]);
  });

  it("the command replaces its process with one started with them, keeping node's own options", () => {
    // A preloaded module prints the options of every node process that starts.
    const probe = "data:text/javascript,process.stderr.write(JSON.stringify(process.execArgv.slice(2))+'\\n')";
    const starts = (args: string[]) => {
      const r = spawnSync(process.execPath, ["--import", probe, bin, ...args], { encoding: "utf8" });
      expect(r.stdout).toContain("usage: clawback");
      return r.stderr.trim().split("\n").map((line) => JSON.parse(line) as string[]);
    };
    expect(starts(["checkout", "--help"])).toEqual([[], ["--max-semi-space-size=4"]]);
    expect(starts(["log", "--help"])).toEqual([[]]);
  });
});

describe("the young generation's cap", () => {
  // A commit-like load: garbage with survivors, made across turns of the event loop (a commit
  // awaits its reads), then the new space's size.
  const newSpaceAfterLoad = (cap: string) =>
    Number(execFileSync(process.execPath, ["--input-type=module", "-e", `
      import { capYoungGeneration } from ${JSON.stringify(runtimeTs)};
      import { getHeapSpaceStatistics } from "node:v8";
      ${cap}
      const keep = [];
      for (let round = 0; round < 30; round++) {
        for (let i = 0; i < 50000; i++) { const o = { a: new Array(40).fill(i) }; if (i % 10 === 0) keep.push(o); }
        await new Promise((resolve) => setImmediate(resolve));
      }
      process.stdout.write(String(getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size));`], { encoding: "utf8" }));

  it("a commit's young generation stops growing at the cap; without it the same load grows it far past", () => {
    expect(newSpaceAfterLoad(`capYoungGeneration(["commit", "dir"]);`)).toBeLessThanOrEqual(2 * YOUNG_GENERATION_CAP);
    expect(newSpaceAfterLoad("")).toBeGreaterThan(4 * YOUNG_GENERATION_CAP);
  });

  it("a checkout is left alone (it is restarted with its own young generation)", () => {
    expect(newSpaceAfterLoad(`capYoungGeneration(["checkout", "latest", "dir"]);`)).toBeGreaterThan(4 * YOUNG_GENERATION_CAP);
  });
});
