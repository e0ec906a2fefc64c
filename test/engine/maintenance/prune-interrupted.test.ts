// A prune killed between any two of its writes and deletes (invariants 1 and 4), with two other
// machines' caches in the picture. The repository gives prune all three kinds of work: packs of a
// commit that died before its manifest (deleted first), packs with nothing live (a manifest
// without them, then the old manifests, then the packs), and packs under half live (their live
// blobs into new packs, a manifest listing those, the old manifests, the old packs).
//
// Each round starts from a copy of that repository and of the three caches: machine A's (it made
// the snapshots and the dead commit), B's (it committed before the dead commit and synced
// incrementally since, so the dead commit's packs are not in it) and C's (new after the dead
// commit, so it holds those packs as indexed from their headers). A's prune is killed at its n-th
// change, for every n, or just after one where it would next bring its own cache in line, or
// runs to the end while B and C sync beside it just before its n-th change. Then the machines go
// on: B and C sync, all three commit (unchanged files, a changed one, and files whose content only
// forgotten snapshots or the dead commit had stored, so that deduplication meets blobs the prune
// may have deleted), and every listed snapshot must restore exactly and `check --read-data` pass;
// then the oldest snapshot is forgotten, a complete prune runs, and the same must hold through
// each of the three caches.

import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../../src/engine/repository.ts";
import type { Backend } from "../../../src/storage/backend.ts";
import { INDEX_PREFIX } from "../../../src/repo/layout.ts";
import { faultyBackend } from "../../helpers/faulty-backend.ts";
import { PASSPHRASE } from "../../helpers/repo.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { prng, randomBytesFrom } from "../../helpers/tree.ts";
import { captureTree } from "../../helpers/expected-tree.ts";
import { repositoryProblems, type ExpectedSnapshot } from "../../helpers/verify-repo.ts";

/** One chunk per file (under the chunker's 16 KiB minimum); a 64 KiB pack closes at the sixth. */
const FILE_BYTES = 12 * 1024;
const PACK_SIZE = 64 * 1024;
/** Long ago: no file is racy (read again by every commit, its stat-cache row never trusted). */
const SETTLED = 1_700_000_000;

const MACHINES = ["A", "B", "C"] as const;
type Machine = (typeof MACHINES)[number];
const HOSTS: Record<Machine, string | undefined> = { A: undefined, B: "machine-b", C: "machine-c" };

type Place = { url: string; caches: Record<Machine, string> };

const MODES = ["killed at", "killed just after", "watched at"] as const;
type Mode = (typeof MODES)[number];

describe("prune interrupted at every change, then other machines' caches, commits and a complete prune", () => {
  const scratch = useScratch();

  it("every listed snapshot restores and check --read-data passes through every cache", { timeout: 240_000 }, async () => {
    const rand = prng(4242);
    const content = new Map<string, Buffer>();
    const bytesOf = (name: string) => {
      if (!content.has(name)) content.set(name, randomBytesFrom(rand, FILE_BYTES));
      return content.get(name)!;
    };
    const write = async (dir: string, name: string, bytes = bytesOf(name)) => {
      await fs.writeFile(path.join(dir, name), bytes);
      await fs.utimes(path.join(dir, name), SETTLED, SETTLED);
    };
    const open = (url: string, cacheDir: string, wrap?: (b: Backend) => Backend) =>
      Repository.open(url, { passphrase: PASSPHRASE, cacheDir, codecThreads: 0, ...(wrap ? { wrapBackend: wrap } : {}) });

    // Machine A: a first snapshot of 30 files, then a second keeping two of each six a-files (the
    // packs holding them fall under half live) and none of the z-files (their pack has nothing
    // live), with new b-files. The source folders stay the same through every round, so the
    // stat caches' rows for their unchanged files are trusted as they would be.
    const srcA = await scratch.dir("src-a");
    const srcB = await scratch.dir("src-b");
    const t = await scratch.repo({ packSize: PACK_SIZE, codecThreads: 0 });
    const template: Place = { url: t.url, caches: { A: t.cacheDir, B: await scratch.dir("cache-b"), C: await scratch.dir("cache-c") } };
    const aFiles = Array.from({ length: 24 }, (_, i) => `a${String(i + 1).padStart(2, "0")}.bin`);
    const keptA = aFiles.filter((_, i) => i % 6 < 2);
    for (const f of aFiles) await write(srcA, f);
    for (let i = 1; i <= 6; i++) await write(srcA, `z0${i}.bin`);
    const first = await t.repo.commit(srcA);
    for (const f of await fs.readdir(srcA)) if (!keptA.includes(f)) await fs.rm(path.join(srcA, f));
    for (let i = 1; i <= 6; i++) await write(srcA, `b0${i}.bin`);
    await write(srcA, "changed.txt", Buffer.from("before\n"));
    const second = await t.repo.commit(srcA);
    const expected = new Map<string, ExpectedSnapshot>([[second.snapshot.id, { tree: await captureTree(srcA), databases: [] }]]);

    // Machine B commits a folder sharing a file with A's.
    await write(srcB, "a01.bin");
    for (let i = 1; i <= 6; i++) await write(srcB, `e0${i}.bin`);
    await write(srcB, "changed.txt", Buffer.from("before\n"));
    const b = await open(t.url, template.caches.B);
    const ofB = await b.commit(srcB, { host: HOSTS.B });
    expected.set(ofB.snapshot.id, { tree: await captureTree(srcB), databases: [] });

    await t.repo.forget([first.snapshot.id]);
    await t.repo.close();

    // A commit of A's that dies at its manifest: its packs are in the bucket, listed nowhere. Two
    // packs of file content (and one of its listing), so whichever a prune deletes first, the
    // other is still there.
    const dFiles = Array.from({ length: 12 }, (_, i) => `d${String(i + 1).padStart(2, "0")}.bin`);
    for (const f of dFiles) await write(srcA, f);
    const dying = await open(t.url, template.caches.A, (inner) => faultyBackend(inner, { failPutFrom: 1, putPrefix: INDEX_PREFIX }));
    await expect(dying.commit(srcA)).rejects.toThrow(/injected failure/);
    await dying.close();
    await b.log();
    await b.close();
    const c = await open(t.url, template.caches.C);
    await c.log();
    await c.close();

    const copy = async (label: string): Promise<Place> => {
      const root = await scratch.dir(label);
      const out: Place = { url: path.join(root, "repo"), caches: { A: path.join(root, "cache-a"), B: path.join(root, "cache-b"), C: path.join(root, "cache-c") } };
      await fs.cp(template.url, out.url, { recursive: true });
      for (const m of MACHINES) await fs.cp(template.caches[m], out.caches[m], { recursive: true });
      return out;
    };

    // A clean prune of a copy, its changes recorded in order: the points to interrupt, and proof
    // that all three kinds of work are there.
    const probe = await copy("probe");
    const changes: string[] = [];
    const probing = await open(probe.url, probe.caches.A, (inner) => faultyBackend(inner, { changes }));
    const done = await probing.prune();
    await probing.close();
    const firstManifest = changes.findIndex((op) => op.startsWith("put index/"));
    const lastManifest = changes.findLastIndex((op) => op.startsWith("put index/"));
    expect(changes.slice(0, firstManifest).filter((op) => op.startsWith("delete data/")).length).toBe(3); // the dead commit's packs
    expect(lastManifest).toBeGreaterThan(firstManifest); // one manifest without the empty packs, one with the repacked blobs
    expect(changes.slice(firstManifest, lastManifest).filter((op) => op.startsWith("delete data/")).length).toBeGreaterThanOrEqual(2); // the empty packs
    expect(changes.slice(firstManifest, lastManifest).filter((op) => op.startsWith("put data/")).length).toBeGreaterThanOrEqual(2); // the repack's new packs
    expect(changes.slice(lastManifest).filter((op) => op.startsWith("delete data/")).length).toBe(done.packsRepacked);
    expect(done.packsRepacked).toBeGreaterThanOrEqual(2);

    /**
     * One round: `mode` at the n-th change of A's prune, then B and C sync, the machines commit in
     * `order`, the repository is verified, the oldest snapshot forgotten, a complete prune run
     * through `pruner`, and the repository verified through each cache. Returns the problems found.
     */
    const round = async (mode: Mode, n: number, order: readonly Machine[], pruner: Machine): Promise<string[]> => {
      const place = await copy("round");
      const repos: Partial<Record<Machine, Repository>> = {};
      const problems: string[] = [];
      try {
        repos.B = await open(place.url, place.caches.B);
        repos.C = await open(place.url, place.caches.C);
        if (mode === "watched at") {
          const syncBeside = async (i: number) => {
            if (i !== n) return;
            await repos.B!.log();
            await repos.C!.log();
          };
          const watched = await open(place.url, place.caches.A, (inner) => faultyBackend(inner, { beforeChange: syncBeside }));
          await watched.prune().finally(() => watched.close());
        } else {
          // Killed: its lock goes too (the next command would find it stale and set it aside).
          const killed = await open(place.url, place.caches.A, (inner) => faultyBackend(inner, { failChangeFrom: n, failedChangeLands: mode === "killed just after" }));
          const outcome = await killed.prune().then(() => "finished", (err: Error) => err.message).finally(() => killed.close());
          if (!outcome.includes("injected failure")) return [`the prune was not killed: ${outcome}`];
        }
        repos.A = await open(place.url, place.caches.A);
        await repos.B.log();
        await repos.C.log();

        const now = new Map(expected);
        await write(srcB, "rev-a03.bin", bytesOf("a03.bin"));
        await write(srcB, "rev-z01.bin", bytesOf("z01.bin"));
        await write(srcB, "rev-d01.bin", bytesOf("d01.bin")); // in one pack of the dead commit
        await write(srcB, "rev-d12.bin", bytesOf("d12.bin")); // in the other
        await write(srcA, "rev-a03.bin", bytesOf("a03.bin")); // dead, in a pack the repack rewrites
        await write(srcA, "rev-z01.bin", bytesOf("z01.bin")); // dead, in a pack with nothing live
        for (const m of order) {
          const src = m === "A" ? srcA : srcB;
          await write(src, "changed.txt", Buffer.from(`${m}: ${mode} ${n}\n`));
          const { snapshot } = await repos[m]!.commit(src, { ...(HOSTS[m] ? { host: HOSTS[m] } : {}) });
          now.set(snapshot.id, { tree: await captureTree(src), databases: [] });
        }
        // Through A's cache: a commit that took blobs from a gone pack shows here, before a prune
        // could hide part of it (it replaces a manifest that lists a gone pack).
        for (const p of await repositoryProblems(repos.A, now, await scratch.dir("restores"), { quickCheck: false })) problems.push(`after the commits: ${p}`);

        await repos.A.forget([second.snapshot.id]);
        now.delete(second.snapshot.id);
        await repos[pruner]!.prune();
        for (const m of MACHINES) {
          for (const p of await repositoryProblems(repos[m]!, now, await scratch.dir("restores"), { quickCheck: false, restores: m === "A" })) problems.push(`after a complete prune through ${pruner}, through cache ${m}: ${p}`);
        }
      } catch (err) {
        problems.push(`${(err as Error).name}: ${(err as Error).message}`);
      } finally {
        for (const r of Object.values(repos)) await r.close();
        await fs.rm(path.dirname(place.url), { recursive: true, force: true });
      }
      return problems;
    };

    // Killed just after a change is killed at the next one, except where the prune does more than
    // change the bucket in between: after the last old manifest is deleted, it brings its own
    // cache in line.
    const lastManifestDeletes = changes.flatMap((op, i) => (op.startsWith("delete index/") && !changes[i + 1]?.startsWith("delete index/") ? [i + 1] : []));
    expect(lastManifestDeletes).toHaveLength(2);
    const failures: string[] = [];
    let rounds = 0;
    for (let n = 1; n <= changes.length; n++) {
      for (const mode of MODES) {
        if (mode === "killed just after" && !lastManifestDeletes.includes(n)) continue;
        // The commit order and the machine that prunes at the end vary from round to round.
        const order = rounds % 2 === 0 ? MACHINES : [...MACHINES].reverse();
        const pruner = MACHINES[rounds % 3]!;
        rounds++;
        for (const p of await round(mode, n, order, pruner)) failures.push(`prune ${mode} ${changes[n - 1]} (change ${n} of ${changes.length}), commits ${order.join("")}: ${p}`);
      }
    }
    expect(rounds).toBe(2 * changes.length + 2);
    expect(failures).toEqual([]);
  });
});
