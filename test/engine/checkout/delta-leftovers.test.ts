// A checkout holds deltas (sealed) until their bases' ranges come, up to a bound (invariant 6);
// past it, deltas are read apart at the end. That path runs only for databases with more than
// 32 MiB of deltas, so here the bound is lowered to reach it on a small one.
import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { editOpenClawLikeDb } from "../../helpers/sqlite-writer.ts";
import { useScratch } from "../../helpers/scratch.ts";
import { materialize } from "../../../src/engine/checkout/materialize.ts";
import { loadListing, resolveSnapshot } from "../../../src/engine/snapshots.ts";
import type { RepoContext } from "../../../src/engine/context.ts";
import type { Repository } from "../../../src/engine/repository.ts";
import { committedDatabase } from "../../helpers/committed-database.ts";

/** The engine's context behind a repository (what checkout hands materialize). */
const contextOf = (repo: Repository) => (repo as unknown as { ctx: RepoContext }).ctx;

describe("deltas past the assembler's bound", () => {
  const scratch = useScratch();

  it("are read apart with their bases and restore the same bytes, whatever the bound", async () => {
    const { t, src, db } = await committedDatabase(scratch, "openclaw-agent.sqlite", 4 * 1024 * 1024);
    editOpenClawLikeDb(db, "update-random", 0.02, 11);
    const { snapshot } = await t.repo.commit(src);
    // What a checkout through the public API restores (the snapshot holds the database as a
    // writer committed it, not the file's bytes, which may have a WAL beside them).
    const reference = path.join(await scratch.dir("reference"), "out");
    await t.repo.checkout(snapshot.id, reference);
    const expected = await fs.readFile(path.join(reference, "openclaw-agent.sqlite"));

    const ctx = contextOf(t.repo);
    const { record } = resolveSnapshot(ctx, snapshot.id);
    const entries = await loadListing(ctx, record, snapshot.id);
    const deltas = entries.flatMap((e) => e.chunks ?? []).filter((id) => ctx.reader.locate(id).base);
    expect(deltas.length).toBeGreaterThan(5);
    // 0: every delta left over; 64 KiB: some held, some not; no bound: none left over.
    for (const maxHeldBytes of [0, 64 * 1024, undefined]) {
      const out = await scratch.dir(`out-${maxHeldBytes ?? "unbounded"}`);
      await materialize(ctx, entries, out, { alreadyRead: record.tree, ...(maxHeldBytes === undefined ? {} : { maxHeldBytes }) });
      expect((await fs.readFile(path.join(out, "openclaw-agent.sqlite"))).equals(expected), `bound ${maxHeldBytes}`).toBe(true);
    }
  });
});
