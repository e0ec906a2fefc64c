// Crash consistency (issue 14, "must show" 1; DESIGN.md invariants 1, 4, 5, 11): commit, forget,
// prune and checkout run as real `clawback` processes and are SIGKILLed at seeded random moments,
// while a writer keeps changing an SQLite database inside the source. After each kill:
//
// - the repository as the crash left it passes `check` and `check --read-data`, and every listed
//   snapshot restores to exactly the tree it was taken of (databases: a committed state);
// - the next command (a commit or a prune, drawn at random) runs at once: a lock of the killed
//   process must not hold it off (a LockedError, exit 9, is a failure here);
// - after a killed checkout the next command that touches the target (a commit of it) finds the
//   old tree or the new one there, never neither and never a mix, and no staging folder beside it;
// - after every completed commit no scratch folder of a dead process is left (they hold plaintext
//   database copies), and after every completed prune no partial pack file (data/**/*.tmp-*) is.
//
// A failure names the seed: CLAWBACK_TORTURE_SEED=<seed> replays the same choices (the moments
// of the kills are the same; where the process was then depends on the machine's speed).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Repository } from "../../src/engine/repository.ts";
import { localTarget, s3Target, type RepoTarget } from "../helpers/targets.ts";
import { describeTree, makeRandomTree, prng } from "../helpers/tree.ts";
import { startWriter, type Writer } from "../helpers/sqlite-writer.ts";
import { makeTortureRepo, type TortureRepo } from "../helpers/torture-repo.ts";
import { describeRun, type CliRun } from "../helpers/cli-process.ts";
import { isDatabase, restoredTreeProblem, treeDifference, withoutDatabases, type Tree } from "../helpers/expected-tree.ts";
import { repositoryProblems, type ExpectedSnapshot } from "../helpers/verify-repo.ts";
import { ageFiles, deadScratchFolders, partialPacks } from "../helpers/leftovers.ts";
import { mutateTree } from "../helpers/mutate-tree.ts";
import { budgetMs, scale, torturedSeed } from "../helpers/torture-scale.ts";

type Op = "commit" | "checkout" | "forget" | "prune";

const PLANS: { target: RepoTarget; kills: number }[] = [
  { target: localTarget(), kills: scale(12, 230) },
  { target: s3Target(), kills: scale(5, 80) },
];

/** Longer than any partial pack's grace period could sensibly be (the test ages them by this). */
const DEAD_FOR_MS = 7 * 24 * 3600 * 1000;

for (const { target, kills } of PLANS) {
  describe(`crash consistency on ${target.name}`, () => {
    beforeAll(() => target.start());
    afterAll(() => target.stop());

    it(`keeps every snapshot restorable through ${kills} SIGKILLs of commit, checkout, forget and prune`, { timeout: budgetMs(6, 240) }, async () => {
      const seed = torturedSeed();
      const world = await CrashWorld.create(target, seed);
      try {
        await world.run(kills);
      } finally {
        await world.close();
      }
    });
  });
}

/** The repository, a source with a live database, a checkout target, and what each snapshot holds. */
class CrashWorld {
  private readonly expected = new Map<string, ExpectedSnapshot>();
  private readonly trail: string[] = [];
  /** Running estimate of each command's duration, so kills land within it. */
  private readonly typicalMs: Record<Op, number> = { commit: 2500, checkout: 2500, forget: 1000, prune: 2000 };
  private killsDone = 0;
  private lister: Repository | undefined;

  private readonly t: TortureRepo;
  private readonly seed: number;
  private readonly rand: () => number;
  private readonly src: string;
  private readonly target: string;
  private readonly writer: Writer;

  private constructor(t: TortureRepo, seed: number, src: string, target: string, writer: Writer) {
    this.t = t;
    this.seed = seed;
    this.rand = prng(seed);
    this.src = src;
    this.target = target;
    this.writer = writer;
  }

  static async create(target: RepoTarget, seed: number): Promise<CrashWorld> {
    const t = await makeTortureRepo(target);
    const src = path.join(t.base, "src");
    await makeRandomTree(src, seed, { files: 20, maxSize: 200_000 });
    await fs.mkdir(path.join(src, "db"));
    // Steady: a transaction every 20 ms, at a constant database size, for as long as the test runs.
    const writer = await startWriter(path.join(src, "db", "live.sqlite"), "write", { paceMs: 20 });
    return new CrashWorld(t, seed, src, path.join(t.base, "target"), writer);
  }

  async close(): Promise<void> {
    await this.lister?.close();
    await this.writer.stop();
  }

  async run(kills: number): Promise<void> {
    // A first snapshot, checked out once, so that the target always holds a tree of its own.
    this.expectOk(await this.commit());
    this.expectOk(await this.checkout());
    while (this.killsDone < kills) {
      const op = this.chooseOp();
      const killAfterMs = 100 + Math.floor(this.rand() * this.typicalMs[op] * 1.2);
      const targetBefore = op === "checkout" ? await describeTree(this.target) : {};
      const run = await this.runOp(op, killAfterMs);
      if (!run.killed) {
        this.expectOk(run);
        this.typicalMs[op] = Math.round((this.typicalMs[op] + run.ms) / 2);
        continue;
      }
      this.killsDone++;
      await this.verifyRepository(`after kill ${this.killsDone}`);
      if (op === "checkout") await this.recoverTarget(targetBefore, run);
      else this.expectOk(await this.runOp(this.rand() < 0.5 ? "commit" : "prune"), "the command after a kill");
    }
    await this.verifyRepository("at the end");
  }

  private chooseOp(): Op {
    const n = this.expected.size;
    const r = this.rand();
    if (n === 0) return "commit";
    if (n > 5 && r < 0.4) return "forget";
    if (r < 0.4) return "commit";
    if (r < 0.6) return "checkout";
    if (r < 0.8) return n > 1 ? "forget" : "commit";
    return "prune";
  }

  private async runOp(op: Op, killAfterMs?: number): Promise<CliRun> {
    switch (op) {
      case "commit":
        return this.commit(killAfterMs);
      case "checkout":
        return this.checkout(killAfterMs);
      case "forget":
        return this.forget(killAfterMs);
      case "prune":
        return this.prune(killAfterMs);
    }
  }

  private async commit(killAfterMs?: number): Promise<CliRun> {
    await mutateTree(this.src, this.rand, (rel) => rel.startsWith("db/"));
    const tree = withoutDatabases(await describeTree(this.src));
    const run = await this.cli(["commit", this.src], killAfterMs);
    await this.adoptNewSnapshots({ tree, databases: ["db/live.sqlite"] });
    if (!run.killed && run.code === 0) await this.expectNoDeadScratch(run);
    return run;
  }

  private async checkout(killAfterMs?: number): Promise<CliRun> {
    const ids = [...this.expected.keys()];
    const id = ids[Math.floor(this.rand() * ids.length)]!;
    const before = await describeTree(this.target).catch(() => ({}) as Tree);
    const run = await this.cli(["checkout", id, this.target], killAfterMs);
    // A snapshot taken during a checkout is its safety snapshot: the target as it was.
    await this.adoptNewSnapshots({ tree: withoutDatabases(before), databases: Object.keys(before).filter(isDatabase) });
    if (!run.killed && run.code === 0) {
      const want = this.expected.get(id)!;
      const problem = await restoredTreeProblem(this.target, want.tree, want.databases);
      if (problem) this.fail(`checkout of ${id.slice(0, 12)} completed but the target is wrong: ${problem}`);
    }
    return run;
  }

  private async forget(killAfterMs?: number): Promise<CliRun> {
    const ids = [...this.expected.keys()];
    const pick = () => ids.splice(Math.floor(this.rand() * ids.length), 1)[0]!;
    const doomed = ids.length > 4 ? [pick(), pick()] : [pick()];
    const run = await this.cli(["forget", ...doomed], killAfterMs);
    await this.adoptNewSnapshots(undefined);
    return run;
  }

  private async prune(killAfterMs?: number): Promise<CliRun> {
    const dir = this.t.localDir;
    if (dir) await ageFiles(dir, await partialPacks(dir), DEAD_FOR_MS);
    const run = await this.cli(["prune"], killAfterMs);
    if (dir && !run.killed && run.code === 0) {
      const left = await partialPacks(dir);
      if (left.length) this.fail(`a completed prune left ${left.length} partial packs of killed commits (issue 14 defect 7): ${left.slice(0, 3).join(", ")}`);
    }
    return run;
  }

  /**
   * After a checkout was killed, the next command that touches the target (here a commit of it)
   * must find the old tree or the new one there, put back if need be, and no staging folders.
   */
  private async recoverTarget(before: Tree, killed: CliRun): Promise<void> {
    const newId = killed.args[1]!;
    const run = await this.cli(["commit", this.target]);
    if (run.code !== 0) this.fail(`the commit of the target after a killed checkout failed (issue 14 defect 4: the target must be put back)\n${describeRun(run)}`);
    const now = await describeTree(this.target);
    const dbs = Object.keys(now).filter(isDatabase);
    await this.adoptNewSnapshots({ tree: withoutDatabases(now), databases: dbs });
    const asOld = treeDifference(withoutDatabases(now), withoutDatabases(before));
    const want = this.expected.get(newId);
    const asNew = want ? await restoredTreeProblem(this.target, want.tree, want.databases) : "the snapshot is gone";
    if (asOld && asNew) this.fail(`after a killed checkout of ${newId.slice(0, 12)} the target is neither the old tree (${asOld}) nor the new one (${asNew})`);
    if (!asOld) {
      const bad = await restoredTreeProblem(this.target, withoutDatabases(before), Object.keys(before).filter(isDatabase));
      if (bad) this.fail(`after a killed checkout the target's old tree came back damaged: ${bad}`);
    }
    const beside = (await fs.readdir(path.dirname(this.target))).filter((n) => n.startsWith(`.${path.basename(this.target)}.clawback-`));
    if (beside.length) this.fail(`staging or old-tree folders of a killed checkout are left beside the target (issue 14 defect 4): ${beside.join(", ")}`);
  }

  /** Gives the snapshots that appeared since the last look the tree they were taken of. */
  private async adoptNewSnapshots(taken: ExpectedSnapshot | undefined): Promise<void> {
    // One library handle for the whole test: log() syncs with the bucket each time.
    this.lister ??= await this.t.open("list");
    const listed = await this.lister.log();
    const ids = new Set(listed.map((s) => s.id));
    for (const s of listed) {
      if (this.expected.has(s.id)) continue;
      if (!taken) this.fail(`snapshot ${s.id.slice(0, 12)} appeared during a command that takes none`);
      this.expected.set(s.id, taken!);
    }
    for (const id of this.expected.keys()) if (!ids.has(id)) this.expected.delete(id);
  }

  private async verifyRepository(when: string): Promise<void> {
    const started = Date.now();
    const repo = await this.t.open();
    try {
      const work = path.join(this.t.base, "verify");
      const problems = await repositoryProblems(repo, this.expected, work);
      this.note(`verified ${this.expected.size} snapshots ${when} in ${Date.now() - started} ms`);
      if (problems.length) this.fail(`${when}: ${problems.join("\n  ")}`);
    } finally {
      await repo.close();
    }
  }

  private async expectNoDeadScratch(run: CliRun): Promise<void> {
    const dead = await deadScratchFolders(this.t.scratchRoot);
    if (dead.length) this.fail(`after a completed commit, ${dead.length} scratch folders of dead processes remain (issue 14 defect 6): ${dead.join(", ")}\n${describeRun(run)}`);
  }

  private async cli(args: string[], killAfterMs?: number): Promise<CliRun> {
    const run = await this.t.cli(args, killAfterMs === undefined ? {} : { killAfterMs });
    this.note(`${run.killed ? `KILLED at ${killAfterMs} ms` : `exit ${run.code} in ${run.ms} ms`}: ${args.map((a) => path.basename(a)).join(" ")}`);
    return run;
  }

  /** Keeps a line for the failure message (and prints it at once under CLAWBACK_TORTURE_VERBOSE=1). */
  private note(line: string): void {
    this.trail.push(line);
    if (process.env.CLAWBACK_TORTURE_VERBOSE === "1") console.log(`[crash ${this.t.url.slice(-20)}] ${line}`);
  }

  private expectOk(run: CliRun, what = "a command that was not killed"): void {
    if (run.code === 9) this.fail(`${what} was refused by a lock: a killed process's lock must not hold off the next command (issue 14 defect 5)\n${describeRun(run)}`);
    if (run.code !== 0) this.fail(`${what} failed\n${describeRun(run)}`);
  }

  private fail(message: string): never {
    const replay = `seed ${this.seed} (replay: CLAWBACK_TORTURE_SEED=${this.seed}), after ${this.killsDone} kills`;
    expect.fail(`${message}\n${replay}\nlast commands:\n  ${this.trail.slice(-12).join("\n  ")}`);
  }
}
