import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { main } from "../../src/cli/main.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator } from "../helpers/b2-emulator.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { tempDir } from "../helpers/tree.ts";

let s3: S3Server;
let b2: B2Emulator;
let base: string;

beforeAll(async () => {
  s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
  b2 = await startB2Emulator({ s3ApiUrl: s3.endpoint, bucket: s3.bucket });
  base = await tempDir("b2-cli");
  await fs.mkdir(path.join(base, "src"));
  await fs.writeFile(path.join(base, "src", "MEMORY.md"), "remember this\n");
});
afterAll(async () => {
  await b2?.stop();
  await s3?.stop();
});

/** Runs the CLI in this process with only the given environment (no CLAWBACK_PASSPHRASE unless given). */
async function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main([...args, "--cache-dir", path.join(base, "cache")], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...env, XDG_CACHE_HOME: path.join(base, "xdg") },
  });
  return { code, stdout, stderr };
}

describe("clawback CLI on a b2:// repository", () => {
  it("uses the B2 application key as the passphrase when no other is given, as the plugin does", async () => {
    const env = b2.env(b2.keys.scoped);
    const repo = b2.url("cli-default-pass");
    expect(await run(["init", "--repo", repo], env)).toMatchObject({ code: 0, stderr: "" });
    expect(await run(["commit", path.join(base, "src"), "--repo", repo], env)).toMatchObject({ code: 0, stderr: "" });
    const log = await run(["log", "--repo", repo, "--json"], env);
    expect(log.code).toBe(0);
    expect(JSON.parse(log.stdout)).toHaveLength(1);
    // An explicit passphrase wins, and it is not this repository's.
    const other = await run(["log", "--repo", repo], { ...env, CLAWBACK_PASSPHRASE: "something else" });
    expect(other.code).toBe(3);
    // The key never shows in what the CLI prints.
    for (const r of [log, other]) expect(r.stdout + r.stderr).not.toContain(env.B2_APPLICATION_KEY);
  });

  it("a local repository does not fall back on B2_APPLICATION_KEY: the error says which variables are read", async () => {
    const r = await run(["init", "--repo", path.join(base, "local-repo")], { B2_APPLICATION_KEY: "not a passphrase here" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no passphrase: set CLAWBACK_PASSPHRASE,");
  });
});
