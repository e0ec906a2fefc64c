// Database page groups as deltas: what a daily commit reads back, and which delta rule stores least.
//
//   node bench/deltas.ts reads    [--size-mb 500] [--dir DIR]   one generated day committed through a
//                                  counting backend: range requests and bytes read from packs
//                                  (the deltas' bases), chunks, deltas and bytes added
//   node bench/deltas.ts policies [--size-mb 500] [--days 20] [--dir DIR]
//                                  the databases' 32 KiB page groups replayed over generated days
//                                  under several delta rules, database bytes stored per day and
//                                  in all (zstd -3, as blobs are compressed; metadata not counted)
//
// Rules compared by `policies`: no deltas (each changed group compressed alone); a delta against
// the oldest full version of the group, stored whole again once the delta is no smaller than the
// group alone (`whole-when-larger`) or once it reaches half of it (`half`, what blob.ts does);
// deltas against the previous version (`chain`, not built), and chains cut at 8 and 4 levels.
import { backup, DatabaseSync } from "node:sqlite";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { constants, zstdCompressSync } from "node:zlib";
import { Repository } from "../src/engine/repository.ts";
import { observedBackend } from "../test/helpers/observed-backend.ts";
import { generateInit, simulateDay } from "./gen/index.ts";
import { arg } from "./lib/args.ts";
import { fmtBytes, isSqliteFile, walkFiles } from "./lib/fsutil.ts";

const mode = process.argv[2];
const sizeMb = Number(arg("size-mb", "500"));
const dir = arg("dir", path.join(os.tmpdir(), "clawback-bench-deltas"));
const GROUP = 32 * 1024;

async function reads(): Promise<void> {
  const state = path.join(dir, "state");
  await generateInit(state, { sizeBytes: Math.round(sizeMb * 1024 * 1024) });
  const counts = { gets: 0, bytes: 0 };
  const countPackReads = (key: string, bytes: Uint8Array) => {
    if (!key.startsWith("data/")) return;
    counts.gets++;
    counts.bytes += bytes.byteLength;
  };
  const repo = await Repository.init(path.join(dir, "repo"), { passphrase: "bench", cacheDir: path.join(dir, "cache"), wrapBackend: (b) => observedBackend(b, { afterGet: countPackReads }) });
  const first = await repo.commit(state);
  await simulateDay(state);
  counts.gets = counts.bytes = 0;
  const day = await repo.commit(state);
  await repo.close();
  const s = day.snapshot.stats;
  console.log(`day 0: ${fmtBytes(first.snapshot.stats.addedBytes)} added`);
  console.log(`day 1: ${s.addedChunks} chunks added, ${s.addedDeltas ?? 0} of them deltas, ${fmtBytes(s.addedBytes)} added; bases read back: ${counts.gets} range requests, ${fmtBytes(counts.bytes)}`);
}

/** Consistent copies of every database of the state, by path. */
async function databases(state: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const copy = path.join(dir, "copy.sqlite");
  for (const f of walkFiles(state).filter((f) => isSqliteFile(f.abs))) {
    const db = new DatabaseSync(f.abs);
    await backup(db, copy);
    db.close();
    out.set(f.rel, fs.readFileSync(copy));
    fs.rmSync(copy);
  }
  return out;
}

const zstd = (data: Buffer, dictionary?: Buffer) => zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: 3 }, ...(dictionary ? { dictionary } : {}) }).byteLength;
const groups = (b: Buffer) => Array.from({ length: Math.ceil(b.length / GROUP) }, (_, i) => b.subarray(i * GROUP, (i + 1) * GROUP));

interface Rule {
  name: string;
  /** Bytes stored for a changed group, updating the rule's state for the group at `place`. */
  store(file: string, place: number, group: Buffer, previous: Buffer | undefined, alone: number): number;
}

/** A rule's state per database: one slot per page group. */
function perFile<T>(): (file: string) => T[] {
  const state = new Map<string, T[]>();
  return (file) => {
    let slots = state.get(file);
    if (!slots) state.set(file, (slots = []));
    return slots;
  };
}

function oldestBase(name: string, keepBelow: number): Rule {
  const basesOf = perFile<Buffer>();
  return {
    name,
    store(file, place, group, previous, alone) {
      const mine = basesOf(file);
      if (previous && !mine[place]) mine[place] = previous; // the day-0 version
      const base = mine[place];
      const delta = base ? zstd(group, base) + 32 : Infinity;
      if (delta * keepBelow < alone) return delta;
      mine[place] = group;
      return alone;
    },
  };
}

function chain(name: string, maxDepth: number): Rule {
  const depthsOf = perFile<number>();
  return {
    name,
    store(file, place, group, previous, alone) {
      const mine = depthsOf(file);
      const depth = mine[place] ?? 0;
      const delta = previous && depth < maxDepth ? zstd(group, previous) + 32 : Infinity;
      if (delta < alone) {
        mine[place] = depth + 1;
        return delta;
      }
      mine[place] = 0;
      return alone;
    },
  };
}

async function policies(): Promise<void> {
  const days = Number(arg("days", "20"));
  const state = path.join(dir, "state");
  await generateInit(state, { sizeBytes: Math.round(sizeMb * 1024 * 1024) });
  const alone: Rule = { name: "no deltas", store: (_file, _place, _group, _previous, size) => size };
  const rules = [alone, oldestBase("whole-when-larger", 1), oldestBase("half", 2), chain("chain", Infinity), chain("chain-8", 8), chain("chain-4", 4)];
  const totals = rules.map(() => 0);
  let before = await databases(state);
  console.log(`| day | ${rules.map((r) => r.name).join(" | ")} |`);
  console.log(`|---:|${rules.map(() => "---:").join("|")}|`);
  for (let d = 1; d <= days; d++) {
    await simulateDay(state);
    const after = await databases(state);
    const today = rules.map(() => 0);
    for (const [file, bytes] of after) {
      const old = groups(before.get(file) ?? Buffer.alloc(0));
      groups(bytes).forEach((group, place) => {
        const previous = old[place];
        if (previous?.equals(group)) return;
        const alone = Math.min(group.byteLength, zstd(group));
        rules.forEach((rule, i) => (today[i]! += rule.store(file, place, group, previous, alone)));
      });
    }
    today.forEach((b, i) => (totals[i]! += b));
    console.log(`| ${d} | ${today.map((b, i) => `${fmtBytes(b)} (${fmtBytes(totals[i]!)})`).join(" | ")} |`);
    before = after;
  }
  console.log(`\nDatabase bytes stored per day (in all so far), ${days} days, ${sizeMb} MB state.`);
}

fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
try {
  if (mode === "reads") await reads();
  else if (mode === "policies") await policies();
  else {
    console.error("usage: node bench/deltas.ts reads|policies [--size-mb N] [--days N] [--dir DIR]");
    process.exitCode = 2;
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
