// `clawback log / check / checkout / repair` on a damaged repository, run as child processes
// (issue 14, defect 3; invariant 12): one damaged object is named and skipped, never a lockout.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describeTree, makeRandomTree, tempDir, type TreeItem } from "../helpers/tree.ts";
import { childEnv, runCli } from "../helpers/cli-process.ts";

const PASS = "repair-cli passphrase";

let base: string;
let repoDir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `clawback args…` against this suite's repository, with a fresh cache folder unless `cache` is given. */
function cli(args: string[], cache?: string): Promise<Run> {
  const cacheDir = cache ?? path.join(base, `cache-${Math.random().toString(16).slice(2)}`);
  return runCli([...args, "--repo", repoDir, "--cache-dir", cacheDir], { env: childEnv(base, { CLAWBACK_PASSPHRASE: PASS }) });
}

const ids: string[] = [];
const trees: Record<string, TreeItem>[] = [];

beforeAll(async () => {
  base = await tempDir("repair-cli");
  repoDir = path.join(base, "repo");
  expect((await cli(["init"])).code).toBe(0);
  for (let i = 0; i < 3; i++) {
    const src = path.join(base, `src${i}`);
    await fs.mkdir(src);
    await makeRandomTree(src, 300 + i, { files: 8, maxSize: 30_000 });
    trees.push(await describeTree(src));
    const r = await cli(["commit", src, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    ids.push((JSON.parse(r.stdout) as { snapshot: { id: string } }).snapshot.id);
  }
}, 120_000);

afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

async function flip(rel: string, at: (n: number) => number): Promise<void> {
  const file = path.join(repoDir, rel);
  const buf = await fs.readFile(file);
  buf[at(buf.length)]! ^= 0x20;
  await fs.writeFile(file, buf);
}

describe("clawback on a damaged repository", () => {
  let lostManifest: string;

  it("log, check and checkout name a damaged snapshot record and a lost manifest, and work around them", async () => {
    await flip(`snapshots/${ids[1]}`, (n) => n >> 1);
    // The third commit's manifest (the newest file in index/): its packs are then listed nowhere.
    const manifests = await Promise.all((await fs.readdir(path.join(repoDir, "index"))).map(async (name) => ({ name, mtime: (await fs.stat(path.join(repoDir, "index", name))).mtimeMs })));
    lostManifest = `index/${manifests.sort((a, b) => a.mtime - b.mtime)[manifests.length - 1]!.name}`;
    await fs.rm(path.join(repoDir, lostManifest));

    const log = await cli(["log", "--json"]);
    expect(log.code, log.stderr).toBe(0);
    expect((JSON.parse(log.stdout) as { id: string }[]).map((s) => s.id)).toEqual([ids[0], ids[2]]);
    expect(log.stderr).toContain(`warning: snapshots/${ids[1]}: skipped: integrity check failed for snapshots/${ids[1]}`);

    const [human, json] = await Promise.all([cli(["check"]), cli(["check", "--json"])]);
    expect(human.code).toBe(7);
    expect(human.stdout).toContain(`error: integrity check failed for snapshots/${ids[1]}`);
    expect(json.code).toBe(7);
    const result = JSON.parse(json.stdout) as { ok: boolean; damaged: string[]; errors: string[] };
    expect(result.damaged).toContain(`snapshots/${ids[1]}`);
    // The lost manifest is named by the packs it listed, which S3 needs.
    expect(result.errors.join("\n")).toContain("is listed in no readable pack manifest");

    for (const i of [0, 2]) {
      const dst = path.join(base, `out${i}`);
      const r = await cli(["checkout", ids[i]!.slice(0, 12), dst]);
      expect(r.code, r.stderr).toBe(0);
      expect(await describeTree(dst)).toEqual(trees[i]);
    }
    const refused = await cli(["checkout", ids[1]!.slice(0, 12), path.join(base, "out1")]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain(`clawback: integrity check failed for snapshots/${ids[1]}`);
  });

  it("repair --dry-run says what it would do and changes nothing; repair rebuilds; --remove-damaged-snapshots removes the record", async () => {
    const before = (await fs.readdir(path.join(repoDir, "index"))).sort();
    const dry = await cli(["repair", "--dry-run"]);
    expect(dry.code).toBe(7); // the damaged record stays
    expect(dry.stdout).toMatch(/would write index\/[0-9a-f]{64}/);
    expect(dry.stdout).toContain(`damaged snapshot record snapshots/${ids[1]}`);
    expect((await fs.readdir(path.join(repoDir, "index"))).sort()).toEqual(before);

    const done = await cli(["repair", "--json"]);
    expect(done.code).toBe(7);
    const r = JSON.parse(done.stdout) as { manifestsWritten: string[]; damagedSnapshots: { object: string; removed: boolean }[] };
    expect(r.manifestsWritten).toHaveLength(1);
    expect(r.damagedSnapshots).toEqual([expect.objectContaining({ object: `snapshots/${ids[1]}`, removed: false })]);
    expect(await fs.readdir(path.join(repoDir, "index"))).toEqual([r.manifestsWritten[0]!.slice(6)]);

    const removed = await cli(["repair", "--remove-damaged-snapshots"]);
    expect(removed.code, removed.stdout).toBe(0);
    expect(removed.stdout).toContain("(removed)");
    const check = await cli(["check", "--read-data"]);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain("no errors found");
    expect(await fs.stat(path.join(repoDir, lostManifest)).catch(() => undefined)).toBeUndefined();
  });

  it("an edited config stops every command naming config (exit 7) until repair writes the authentic one back", async () => {
    const file = path.join(repoDir, "config");
    const original = await fs.readFile(file);
    const edited = JSON.parse(original.toString("utf8")) as { sqliteGroupPages: number };
    edited.sqliteGroupPages += 1;
    await fs.writeFile(file, JSON.stringify(edited, null, 1));

    const log = await cli(["log"]);
    expect(log.code).toBe(7);
    expect(log.stderr).toMatch(/^clawback: integrity check failed for config: differs from the authenticated copy in keys\/[0-9a-f]{64}/);
    const check = await cli(["check", "--json"]);
    expect(check.code).toBe(7);
    expect((JSON.parse(check.stdout) as { damaged: string[] }).damaged).toEqual(["config"]);
    const repair = await cli(["repair"]);
    expect(repair.code, repair.stdout).toBe(0);
    expect(repair.stdout).toContain("config: written back from its authenticated copy");
    expect(await fs.readFile(file)).toEqual(original);
    expect((await cli(["log"])).code).toBe(0);
  });
});
