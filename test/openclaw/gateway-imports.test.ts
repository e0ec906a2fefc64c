// The gateway's process must never open a live database (DESIGN.md, "One process, one set of
// locks"): only the engine's child process may. This loads the plugin's entry the way the gateway
// does, in a process of its own, and records every module it pulls in at run time: none may be
// the engine, the index cache, or an SQLite library.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../../src/openclaw/index.ts", import.meta.url));
const PROBE = `
import { registerHooks } from "node:module";
const seen = [];
const fsUsers = [];
registerHooks({ resolve(spec, ctx, next) {
  const r = next(spec, ctx);
  seen.push(r.url);
  if ((r.url === "node:fs" || r.url === "node:fs/promises") && ctx.parentURL?.includes("/src/")) fsUsers.push(ctx.parentURL);
  return r;
} });
await import(${JSON.stringify(ENTRY)});
process.stdout.write(JSON.stringify({ seen, fsUsers }));
`;

describe("the plugin's gateway side", () => {
  it("loads no engine, index cache or SQLite library into the gateway's process", () => {
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", PROBE], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const { seen: loaded, fsUsers } = JSON.parse(run.stdout) as { seen: string[]; fsUsers: string[] };
    expect(loaded.some((u) => u.endsWith("/src/openclaw/index.ts"))).toBe(true);
    const forbidden = loaded.filter((u) => /\/src\/(engine|index)\/|\/src\/lib\.ts$|better-sqlite3|^node:sqlite$/.test(u));
    expect(forbidden).toEqual([]);
    // The only file access of the gateway side: the plugin's own JSON records under
    // <state>/clawback/ (json-store.ts) and finding the engine child's script (client.ts). Any
    // other module that imports fs could open a database file and drop the gateway's locks.
    expect([...new Set(fsUsers.map((u) => u.replace(/^.*\/src\//, "src/")))].sort()).toEqual(["src/openclaw/engine/client.ts", "src/openclaw/json-store.ts"]);
  });
});
