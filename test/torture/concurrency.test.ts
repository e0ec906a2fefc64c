// Concurrency (issue 14, "must show" 2; DESIGN.md invariant 4): two hosts (`--host A`, `--host B`,
// each with its own index cache and source folder) commit to one repository while a third process
// forgets old snapshots and prunes. Each round starts the three at once; afterwards `check` and
// `check --read-data` pass and every listed snapshot restores to exactly the tree it was taken of
// (so no snapshot lost a chunk to the prune).
//
// What counts as failing: any exit other than 0, except a named lock refusal (LockedError, exit 9,
// "repository is locked by …"): prune and commit exclude each other by design (src/repo/lock.ts),
// and the documented answer to exit 9 is "try again later". Such a command is retried once the
// commands it raced have finished. A corruption-like error ("object … not found", an integrity
// error) fails the test at once.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { localTarget, s3Target, type RepoTarget } from "../helpers/targets.ts";
import { makeRandomTree, prng } from "../helpers/tree.ts";
import { makeTortureRepo, type TortureRepo } from "../helpers/torture-repo.ts";
import { describeRun, type CliRun } from "../helpers/cli-process.ts";
import { captureTree } from "../helpers/expected-tree.ts";
import { repositoryProblems, type ExpectedSnapshot } from "../helpers/verify-repo.ts";
import { mutateTree } from "../helpers/mutate-tree.ts";
import { budgetMs, FULL, scale, torturedSeed } from "../helpers/torture-scale.ts";

const LOCKED = 9;
/** A command refused by a lock is retried at most this often (each retry after its rivals ended). */
const RETRIES = 5;

const PLANS: { target: RepoTarget; rounds: number }[] = [
  { target: localTarget(), rounds: scale(2, 50) },
  ...(FULL ? [{ target: s3Target(), rounds: 50 }] : []),
];

for (const { target, rounds } of PLANS) {
  describe(`two hosts commit while a third prunes, on ${target.name}`, () => {
    beforeAll(() => target.start());
    afterAll(() => target.stop());

    it(`${rounds} rounds: every snapshot stays whole, no corruption-like error, check --read-data passes`, { timeout: budgetMs(4, 120) }, async () => {
      const seed = torturedSeed();
      const rand = prng(seed);
      const t = await makeTortureRepo(target);
      const hosts = ["A", "B"] as const;
      const srcs = Object.fromEntries(await Promise.all(hosts.map(async (h, i) => {
        const dir = path.join(t.base, `src-${h}`);
        await makeRandomTree(dir, seed + i, { files: 15, maxSize: 150_000 });
        return [h, dir] as const;
      }))) as Record<(typeof hosts)[number], string>;
      const expected = new Map<string, ExpectedSnapshot & { host: string }>();
      const log: string[] = [];
      const fail = (msg: string): never => expect.fail(`${msg}\nseed ${seed} (replay: CLAWBACK_TORTURE_SEED=${seed})\n  ${log.slice(-15).join("\n  ")}`);
      const note = (r: CliRun) => {
        const line = `${r.code === 0 ? "ok" : `exit ${r.code}`} in ${r.ms} ms: ${r.args.slice(0, 3).map((a) => path.basename(a)).join(" ")}${r.code ? ` — ${r.stderr.trim().split("\n")[0]}` : ""}`;
        log.push(line);
        if (process.env.CLAWBACK_TORTURE_VERBOSE === "1") console.log(`[concurrency ${target.name}] ${line}`);
      };

      // Which commands are running, and an event for the next one that ends: a command refused by
      // a lock waits for it (when nothing else runs, the refusal came from a rival's passing
      // attempt, and it tries again at once).
      let running = 0;
      let ended!: () => void;
      let nextEnd = new Promise<void>((resolve) => (ended = resolve));
      const run = async (args: string[], host: string): Promise<CliRun> => {
        running++;
        try {
          return await t.cli(args, { host });
        } finally {
          running--;
          const wake = ended;
          nextEnd = new Promise<void>((resolve) => (ended = resolve));
          wake();
        }
      };
      /** Runs a command until no lock refuses it. */
      const persist = async (args: string[], host: string): Promise<CliRun> => {
        for (let attempt = 0; ; attempt++) {
          const r = await run(args, host);
          note(r);
          if (r.code === 0) return r;
          if (r.code !== LOCKED || attempt === RETRIES) fail(`a command failed in round ${round}\n${describeRun(r)}`);
          if (running > 0) await nextEnd;
        }
      };

      let round = 0;
      for (round = 1; round <= rounds; round++) {
        const trees: Record<string, ExpectedSnapshot> = {};
        for (const h of hosts) {
          await mutateTree(srcs[h], rand);
          trees[h] = { tree: await captureTree(srcs[h]), databases: [] };
        }
        // Old snapshots to forget: all but each host's newest two.
        const doomed = hosts.flatMap((h) => [...expected].filter(([, e]) => e.host === h).map(([id]) => id).slice(0, -2));
        const commits = hosts.map((h) => persist(["commit", srcs[h]], h));
        const pruned = (async () => {
          if (doomed.length) await persist(["forget", ...doomed], "P");
          await persist(["prune"], "P");
        })();
        await Promise.all([...commits, pruned]);

        // Which snapshot is whose: by host.
        const repo = await t.open();
        try {
          for (const s of await repo.log()) {
            if (expected.has(s.id)) continue;
            const tree = trees[s.host];
            if (!tree) fail(`snapshot ${s.id.slice(0, 12)} of unknown host ${s.host}`);
            expected.set(s.id, { ...tree!, host: s.host });
          }
          const listed = new Set((await repo.log()).map((s) => s.id));
          for (const id of [...expected.keys()]) if (!listed.has(id)) expected.delete(id);
          const problems = await repositoryProblems(repo, expected, path.join(t.base, "verify"));
          if (problems.length) fail(`after round ${round}: ${problems.join("\n  ")}`);
        } finally {
          await repo.close();
        }
      }
      await fs.rm(t.base, { recursive: true, force: true });
    });
  });
}
