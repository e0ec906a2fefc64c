// How big should a page group be? Builds an OpenClaw-shaped database (~50 MB: transcript events
// with JSON text, memory rows with embedding blobs, indexes), captures it with captureSqlite, edits
// it (1 % of rows updated uniformly, 1 % updated among the newest rows, 1 % rows appended),
// captures again, and for each group size prints what the second capture would add to a
// repository: the groups whose content is not among the first capture's, their bytes raw,
// zstd-compressed one by one, and as a commit stores them (each as a delta of the group at the
// same place in the first capture while that is under half its size alone), and ~150 bytes of metadata per new chunk
// (index entry, pack-header entry, listing id). Also prints the chunk count of one capture, which
// every snapshot's listing and the local index carry, and the cost of the snapshot listing: the
// database's entry lists one 64-hex-digit id per chunk and is itself chunked, so a change anywhere
// in a stretch of ids rewrites that stretch; estimated with fixed 64 KiB windows of ids, zstd-compressed
// (an upper bound: commits cut listings into ~4 KiB pieces, src/engine/listing.ts).
//
// Run: node bench/sqlite-groups.ts [sizeMB=50]

import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { zstdCompressSync } from "node:zlib";
import { captureSqlite, DEFAULT_SQLITE_GROUP_PAGES, pageGroups } from "../src/engine/sqlite/sqlite-capture.ts";
import { buildOpenClawLikeDb, editOpenClawLikeDb, type Edit } from "../test/helpers/sqlite-writer.ts";

const GROUPS = [1, 2, 4, 8, 16, 32];
const META_PER_CHUNK = 150;
const FRACTION = 0.01;
const LISTING_PIECE = 64 * 1024;
const ID_TEXT = 67; // "<64 hex>",

/** Bytes the listing adds: pieces of the id list (in LISTING_PIECE windows) not in `before`. */
function listingCost(before: string[], after: string[]): { pieces: number; bytes: number } {
  const perPiece = Math.floor(LISTING_PIECE / ID_TEXT);
  const windows = (ids: string[]) => {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += perPiece) out.push(ids.slice(i, i + perPiece).map((id) => `"${id}",`).join(""));
    return out;
  };
  const old = new Set(windows(before));
  let pieces = 0;
  let bytes = 0;
  for (const w of windows(after)) {
    if (old.has(w)) continue;
    pieces++;
    bytes += zstdCompressSync(Buffer.from(w)).byteLength + META_PER_CHUNK;
  }
  return { pieces, bytes };
}

async function groupHashes(file: string, pageSize: number, g: number): Promise<string[]> {
  const out: string[] = [];
  for await (const group of pageGroups(file, pageSize, g)) out.push(createHash("sha256").update(group).digest("hex"));
  return out;
}

interface Row {
  g: number;
  chunks: number;
  newChunks: number;
  newBytes: number;
  zstdBytes: number;
  deltaBytes: number;
  metaBytes: number;
  listingBytes: number;
  total: number;
}

async function measure(before: string, after: string, pageSize: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const g of GROUPS) {
    const oldIds = await groupHashes(before, pageSize, g);
    const old = new Set(oldIds);
    const oldGroups: Buffer[] = [];
    for await (const group of pageGroups(before, pageSize, g)) oldGroups.push(Buffer.from(group));
    const ids: string[] = [];
    let chunks = 0;
    let newChunks = 0;
    let newBytes = 0;
    let zstdBytes = 0;
    let deltaBytes = 0;
    const added = new Set<string>();
    for await (const group of pageGroups(after, pageSize, g)) {
      const place = chunks++;
      const h = createHash("sha256").update(group).digest("hex");
      ids.push(h);
      if (old.has(h) || added.has(h)) continue;
      added.add(h);
      newChunks++;
      newBytes += group.byteLength;
      const alone = Math.min(group.byteLength, zstdCompressSync(group).byteLength);
      zstdBytes += alone;
      // As a commit stores it: against the group at the same place in the previous version (blob.ts).
      const base = oldGroups[place];
      const delta = base ? zstdCompressSync(group, { dictionary: base }).byteLength + 32 : Infinity;
      deltaBytes += delta * 2 < alone ? delta : alone;
    }
    const metaBytes = newChunks * META_PER_CHUNK;
    const listingBytes = listingCost(oldIds, ids).bytes;
    rows.push({ g, chunks, newChunks, newBytes, zstdBytes, deltaBytes, metaBytes, listingBytes, total: deltaBytes + metaBytes + listingBytes });
  }
  return rows;
}

const mb = (n: number) => (n / 1e6).toFixed(2);
const pct = (n: number, of: number) => ((100 * n) / of).toFixed(1);

async function main(): Promise<void> {
  const sizeMB = Number(process.argv[2] ?? 50);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-bench-sqlite-"));
  try {
    const base = path.join(dir, "base.sqlite");
    let t = Date.now();
    const built = buildOpenClawLikeDb(base, sizeMB * 1e6);
    const dbBytes = (await fs.stat(base)).size;
    console.log(`database: ${mb(dbBytes)} MB, ${built.events} events, ${built.memories} memory rows, ${built.sessions} sessions (built in ${Date.now() - t} ms)`);

    t = Date.now();
    const whole = await captureSqlite(base, dir);
    console.log(`page size ${whole.pageSize}; capture ${Date.now() - t} ms`);
    for await (const group of pageGroups(whole.file, whole.pageSize, 1)) zstdCompressSync(group); // warm-up
    console.log("\n## first backup (everything is new)");
    console.log("| pages/group | chunks | zstd (MB) | metadata (MB) | listing (MB) | total (MB, % of db) | zstd time (ms) |");
    console.log("|---:|---:|---:|---:|---:|---:|---:|");
    for (const g of GROUPS) {
      let chunks = 0;
      let zstd = 0;
      t = Date.now();
      for await (const group of pageGroups(whole.file, whole.pageSize, g)) {
        chunks++;
        zstd += Math.min(group.byteLength, zstdCompressSync(group).byteLength);
      }
      const ms = Date.now() - t;
      const listing = listingCost([], await groupHashes(whole.file, whole.pageSize, g)).bytes;
      const total = zstd + chunks * META_PER_CHUNK + listing;
      console.log(`| ${g}${g === DEFAULT_SQLITE_GROUP_PAGES ? " (default)" : ""} | ${chunks} | ${mb(zstd)} | ${mb(chunks * META_PER_CHUNK)} | ${mb(listing)} | ${mb(total)} (${pct(total, dbBytes)} %) | ${ms} |`);
    }
    await fs.rm(whole.file);

    const edits: Edit[] = ["update-random", "update-recent", "append"];
    for (const edit of edits) {
      const file = path.join(dir, `${edit}.sqlite`);
      await fs.copyFile(base, file);
      const a = await captureSqlite(file, dir);
      const changed = editOpenClawLikeDb(file, edit, FRACTION);
      t = Date.now();
      const b = await captureSqlite(file, dir);
      const captureMs = Date.now() - t;
      const size = (await fs.stat(b.file)).size;
      console.log(`\n## ${edit}: ${changed.events} events and ${changed.memories} memory rows (${FRACTION * 100} % of each); db ${mb(size)} MB, capture ${captureMs} ms`);
      console.log("| pages/group | group KiB | chunks in db | new chunks | new bytes (MB, % of db) | zstd alone (MB) | as deltas (MB) | metadata (MB) | listing (MB) | total (MB, % of db) |");
      console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (const r of await measure(a.file, b.file, b.pageSize)) {
        console.log(
          `| ${r.g}${r.g === DEFAULT_SQLITE_GROUP_PAGES ? " (default)" : ""} | ${(r.g * b.pageSize) / 1024} | ${r.chunks} | ${r.newChunks} | ${mb(r.newBytes)} (${pct(r.newBytes, size)} %) | ${mb(r.zstdBytes)} | ${mb(r.deltaBytes)} | ${mb(r.metaBytes)} | ${mb(r.listingBytes)} | ${mb(r.total)} (${pct(r.total, size)} %) |`,
        );
      }
      await fs.rm(a.file);
      await fs.rm(b.file);
      await fs.rm(file);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
