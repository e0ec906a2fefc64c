import Database from "better-sqlite3";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BlobType } from "../repo/blob.ts";
import type { PackEntry } from "../repo/pack.ts";
import type { ManifestPack } from "../repo/manifest.ts";
import type { SnapshotRecord } from "../repo/snapshot.ts";

export interface BlobLocation {
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
  type: BlobType;
  /** Set for a delta: the blob it is decoded against. */
  base?: string;
}

/** What the stat cache remembers of a file, to skip reading it when nothing changed. */
export interface FileStat {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

/**
 * What the last commit of a folder stored as its listing, and the walk it came from: when the
 * next commit walks exactly the same names and stats, it reuses the listing instead of rebuilding
 * it (engine/commit/listing-memo.ts).
 */
export interface ListingMemo {
  /** SHA-256 over the walk's names and stats and the excludes. */
  walk: string;
  /**
   * Database stat keys (they also cover the -wal, which the walk does not stat), each with the
   * digest of the chunk ids stored for it (check-schedule.ts's contentDigest; absent in memos of
   * older versions), which is all its quick_check state needs.
   */
  databases: [path: string, key: FileStat, content?: string][];
  tree: string[];
  files: number;
  dirs: number;
  bytes: number;
}

/** The last quick_check of one database (engine/sqlite/check-schedule.ts). */
export interface DatabaseCheck {
  /** Digest of the chunk ids of the content that was checked. */
  content: string;
  checkedMs: number;
  passed: boolean;
}

export interface CachedFile extends FileStat {
  chunks: string[];
  sqlite: boolean;
  /**
   * The plaintext size of `chunks`, recorded for every file: it differs from `size` for a
   * database's captured state (its -wal included) or a scrubbed file's stored content. Absent in
   * rows written before it was recorded.
   */
  storedSize?: number;
}

/** A stat-cache row as read back, with what it takes to trust its chunks without looking them up. */
export interface CachedFileRow extends CachedFile {
  /** True when no blob has left the index since the row was written: its chunks are all there. */
  chunksIndexed: boolean;
}

const SCHEMA_VERSION = 4;

interface BlobRow {
  pack: string;
  offset: number;
  length: number;
  raw_length: number;
  type: number;
  base: string | null;
}

/** One string per pack id, where SQLite hands out a new one per row (80 bytes each). */
class PackIds {
  private readonly ids = new Map<string, string>();
  shared(id: string): string {
    const known = this.ids.get(id);
    if (known !== undefined) return known;
    this.ids.set(id, id);
    return id;
  }
}

function location(r: BlobRow, pack = r.pack): BlobLocation {
  return { pack, offset: r.offset, length: r.length, rawLength: r.raw_length, type: r.type as BlobType, ...(r.base ? { base: r.base } : {}) };
}
/** Blob lookups answered by a query each before all locations may be loaded into memory. */
const POINT_LOOKUPS = 4096;
/**
 * Past POINT_LOOKUPS, queries go on until they number this share of the blobs indexed. A query
 * costs about 9 µs, loading a location about 2.3 µs plus its share of the map's memory, which
 * grows with the repository (13 MB of heap for 56,000 blobs) and which every full collection
 * walks again: a daily commit of the 1.5 GB bench state looks up about 10,800 blobs of 56,000.
 */
const POINT_LOOKUP_SHARE = 1 / 3;

/**
 * The local SQLite cache. Only ever a cache (invariant 3): every row can be rebuilt from the
 * bucket, so on any doubt (schema change, a manifest gone) it is cleared and reloaded.
 */
export class IndexCache {
  private readonly db: Database.Database;
  private readonly stmts;
  private blobMap: Map<string, BlobLocation> | undefined;
  private fileMap: { root: string; files: Map<string, CachedFile & { generation: number }> } | undefined;
  private cachedGeneration: number | undefined;
  private pointLookups = 0;
  /** How many point lookups are answered before the map is loaded; set once POINT_LOOKUPS are spent. */
  private pointLookupLimit: number | undefined;
  /** The cache's database file (a checkout must not land on it: invariant 11). */
  readonly file: string;

  constructor(file: string) {
    this.file = file;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      this.db.exec("DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS packs; DROP TABLE IF EXISTS manifests; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS snapshots; DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS listing_memos; DROP TABLE IF EXISTS damaged;");
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS blobs (id TEXT PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL, type INTEGER NOT NULL, base TEXT) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS blobs_pack ON blobs(pack);
      CREATE TABLE IF NOT EXISTS packs (id TEXT PRIMARY KEY, size INTEGER NOT NULL, manifest TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS manifests (id TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS snapshots (id TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS files (root TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, mtime TEXT, ctime TEXT, ino TEXT, chunks TEXT, sqlite INTEGER, generation INTEGER NOT NULL, PRIMARY KEY (root, path)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS damaged (object TEXT PRIMARY KEY, message TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS listing_memos (root TEXT PRIMARY KEY, memo TEXT NOT NULL, generation INTEGER NOT NULL) WITHOUT ROWID;
    `);
    // Added without a schema version: a cache that lacks it simply gets it, and its rows stay true
    // whatever happens to the others (they name content by digest, not by where it is stored).
    this.db.exec("CREATE TABLE IF NOT EXISTS group_hashes (root TEXT NOT NULL, path TEXT NOT NULL, content TEXT NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (root, path)) WITHOUT ROWID;");
    // Added without a schema version too: a row without it (NULL) has its chunks' sizes looked up.
    if (!this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('files')").all().some((c) => c.name === "stored_size")) this.db.exec("ALTER TABLE files ADD COLUMN stored_size INTEGER");
    this.db.exec("CREATE TABLE IF NOT EXISTS database_checks (root TEXT NOT NULL, path TEXT NOT NULL, content TEXT NOT NULL, checked_ms INTEGER NOT NULL, passed INTEGER NOT NULL, PRIMARY KEY (root, path)) WITHOUT ROWID;");
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.stmts = {
      // A blob stored twice (two machines, or a repack) keeps its first location, except that a
      // full copy replaces a delta: decoding it then needs nothing else.
      putBlob: this.db.prepare(
        "INSERT INTO blobs (id, pack, offset, length, raw_length, type, base) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pack = excluded.pack, offset = excluded.offset, length = excluded.length, raw_length = excluded.raw_length, type = excluded.type, base = NULL WHERE blobs.base IS NOT NULL AND excluded.base IS NULL",
      ),
      putPack: this.db.prepare("INSERT OR REPLACE INTO packs (id, size, manifest) VALUES (?, ?, ?)"),
      putManifest: this.db.prepare("INSERT OR IGNORE INTO manifests (id) VALUES (?)"),
      manifests: this.db.prepare<[], { id: string }>("SELECT id FROM manifests"),
      blob: this.db.prepare<[string], BlobRow>("SELECT pack, offset, length, raw_length, type, base FROM blobs WHERE id = ?"),
      // Rows as arrays: no object per row to build and drop (a checkout reads tens of thousands).
      blobsAmong: this.db.prepare<[string], [id: string, pack: string, offset: number, length: number, rawLength: number, type: number, base: string | null]>("SELECT b.id, b.pack, b.offset, b.length, b.raw_length, b.type, b.base FROM json_each(?) AS j JOIN blobs AS b ON b.id = j.value").raw(true),
      files: this.db.prepare<[string], { path: string; size: number; mtime: string; ctime: string; ino: string; chunks: string; sqlite: number; generation: number; stored_size: number | null }>("SELECT path, size, mtime, ctime, ino, chunks, sqlite, generation, stored_size FROM files WHERE root = ?"),
      fileChunks: this.db.prepare<[string, string], { chunks: string }>("SELECT chunks FROM files WHERE root = ? AND path = ?"),
      putFile: this.db.prepare("INSERT OR REPLACE INTO files (root, path, size, mtime, ctime, ino, chunks, sqlite, generation, stored_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      deleteFile: this.db.prepare("DELETE FROM files WHERE root = ? AND path = ?"),
      generation: this.db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'blob_generation'"),
      bumpGeneration: this.db.prepare("INSERT INTO meta (key, value) VALUES ('blob_generation', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1"),
    };
  }

  /**
   * Every blob location, held in memory once lookups outnumber what single queries answer well
   * (see pointLookup): a first commit looks up every chunk, often more than once, and a query each
   * added seconds on a database of 8 KiB chunks. Memory grows with the number of blobs in the
   * repository (about 230 bytes each).
   */
  private locations(): Map<string, BlobLocation> {
    if (!this.blobMap) {
      this.blobMap = new Map();
      const packs = new PackIds();
      for (const r of this.db.prepare<[], BlobRow & { id: string }>("SELECT id, pack, offset, length, raw_length, type, base FROM blobs").iterate()) this.blobMap.set(r.id, location(r, packs.shared(r.pack)));
    }
    return this.blobMap;
  }

  blob(id: string): BlobLocation | undefined {
    if (this.pointLookup()) {
      const r = this.stmts.blob.get(id);
      return r && location(r);
    }
    return this.locations().get(id);
  }

  hasBlob(id: string): boolean {
    return this.pointLookup() ? this.stmts.blob.get(id) !== undefined : this.locations().has(id);
  }

  /**
   * Lookups are single queries until they outnumber both POINT_LOOKUPS and a share of the blobs
   * indexed (POINT_LOOKUP_SHARE); past that the whole map is loaded. A no-change commit looks up
   * only its listing's blobs (about a thousand on a 500 MB state), and loading 48,000 locations
   * for them was a tenth of its time.
   */
  private pointLookup(): boolean {
    if (this.blobMap) return false;
    if (++this.pointLookups <= POINT_LOOKUPS) return true;
    this.pointLookupLimit ??= Math.max(POINT_LOOKUPS, Math.ceil(this.blobCount() * POINT_LOOKUP_SHARE));
    return this.pointLookups <= this.pointLookupLimit;
  }

  private blobCount(): number {
    return this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM blobs").get()!.n;
  }

  /**
   * Locations of the given blobs that the index has, in one query: what a checkout needs of the
   * index, without the whole index in memory (at day 30 of the bench history it reads 24,000 of
   * 57,000 blobs; loading them all as objects took 0.3 s of its main thread and tens of MB of
   * heap, which every full collection walked again). Pack ids are shared strings, not one per row.
   */
  blobsAmong(ids: Iterable<string>): Map<string, BlobLocation> {
    const out = new Map<string, BlobLocation>();
    const wanted = [...new Set(ids)];
    if (this.blobMap) {
      for (const id of wanted) {
        const loc = this.blobMap.get(id);
        if (loc) out.set(id, loc);
      }
      return out;
    }
    const packs = new PackIds();
    // One array parameter, which json_each reads: no statement per id, no temporary table.
    for (const [id, rowPack, offset, length, rawLength, type, base] of this.stmts.blobsAmong.all(JSON.stringify(wanted))) {
      out.set(id, { pack: packs.shared(rowPack), offset, length, rawLength, type: type as BlobType, ...(base ? { base } : {}) });
    }
    return out;
  }

  manifestIds(): Set<string> {
    return new Set(this.stmts.manifests.all().map((r) => r.id));
  }

  /**
   * Records packs read from their own headers because no readable manifest lists them (manifest
   * ""): they are kept until the next full reload, which looks at the bucket's packs again.
   */
  addHeaderPacks(packs: ManifestPack[]): void {
    this.addPacks("", packs);
  }

  /** The ids of the packs headerPacks() returns, without their blobs. */
  headerPackIds(): string[] {
    return this.db.prepare<[], string>("SELECT id FROM packs WHERE manifest = ''").pluck().all();
  }

  /** The packs addHeaderPacks recorded that no manifest has listed since, with their blobs. */
  headerPacks(): ManifestPack[] {
    return this.db
      .prepare<[], { id: string; size: number }>("SELECT id, size FROM packs WHERE manifest = ''")
      .all()
      .map((p) => ({ id: p.id, size: p.size, blobs: this.packEntries(p.id) }));
  }

  /** Records one manifest's packs and blobs, in one transaction. */
  addManifest(manifestId: string, packs: ManifestPack[]): void {
    this.addPacks(manifestId, packs);
  }

  private addPacks(manifestId: string, packs: ManifestPack[]): void {
    this.db.transaction(() => {
      for (const pack of packs) {
        this.stmts.putPack.run(pack.id, pack.size, manifestId);
        for (const b of pack.blobs) {
          this.stmts.putBlob.run(b.id, pack.id, b.offset, b.length, b.rawLength, b.type, b.base ?? null);
          const known = this.blobMap?.get(b.id);
          if (this.blobMap && (!known || (known.base && !b.base))) this.blobMap.set(b.id, { pack: pack.id, offset: b.offset, length: b.length, rawLength: b.rawLength, type: b.type, ...(b.base ? { base: b.base } : {}) });
        }
      }
      if (manifestId) this.stmts.putManifest.run(manifestId);
    })();
  }

  /**
   * Forgets every pack and blob. The file stat cache is kept, but its rows stop vouching for their
   * chunks (the blob generation moves on): a commit looks those up again before trusting a row.
   */
  clearPacks(): void {
    this.db.transaction(() => {
      this.db.exec("DELETE FROM blobs; DELETE FROM packs; DELETE FROM manifests;");
      this.stmts.bumpGeneration.run();
    })();
    this.blobMap = undefined;
    this.cachedGeneration = undefined;
  }

  /** Moves on each time blobs leave the index (clearPacks); only ever grows. */
  private generation(): number {
    return this.stmts.generation.get()?.value ?? 0;
  }

  packs(): { id: string; size: number; manifest: string }[] {
    return this.db.prepare<[], { id: string; size: number; manifest: string }>("SELECT id, size, manifest FROM packs").all();
  }

  packEntries(packId: string): PackEntry[] {
    return this.db
      .prepare<[string], BlobRow & { id: string }>("SELECT id, pack, offset, length, raw_length, type, base FROM blobs WHERE pack = ? ORDER BY offset")
      .all(packId)
      .map((r) => {
        const { pack: _, ...entry } = location(r);
        return { id: r.id, ...entry };
      });
  }

  counts(): { packs: number; blobs: number; packBytes: number } {
    const p = this.db.prepare<[], { n: number; bytes: number | null }>("SELECT count(*) AS n, sum(size) AS bytes FROM packs").get()!;
    const b = this.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM blobs").get()!;
    return { packs: p.n, blobs: b.n, packBytes: p.bytes ?? 0 };
  }

  /** Objects the last sync found damaged and skipped (replaced by each sync). */
  damaged(): { object: string; message: string }[] {
    return this.db.prepare<[], { object: string; message: string }>("SELECT object, message FROM damaged ORDER BY object").all();
  }

  setDamaged(objects: readonly { object: string; message: string }[]): void {
    this.db.transaction(() => {
      this.db.exec("DELETE FROM damaged");
      const put = this.db.prepare("INSERT OR REPLACE INTO damaged (object, message) VALUES (?, ?)");
      for (const d of objects) put.run(d.object, d.message);
    })();
  }

  snapshotIds(): Set<string> {
    return new Set(this.db.prepare<[], { id: string }>("SELECT id FROM snapshots").all().map((r) => r.id));
  }

  /** The newest snapshot of `root` taken on `host` (records are parsed by SQLite, not loaded one by one). */
  latestSnapshot(root: string, host: string): string | undefined {
    return this.db
      .prepare<[string, string], { id: string }>("SELECT id FROM snapshots WHERE record ->> '$.root' = ? AND record ->> '$.host' = ? ORDER BY record ->> '$.time' DESC LIMIT 1")
      .get(root, host)?.id;
  }

  snapshotRecords(): Map<string, SnapshotRecord> {
    const rows = this.db.prepare<[], { id: string; record: string }>("SELECT id, record FROM snapshots").all();
    return new Map(rows.map((r) => [r.id, JSON.parse(r.record) as SnapshotRecord]));
  }

  putSnapshot(id: string, record: SnapshotRecord): void {
    this.db.prepare("INSERT OR REPLACE INTO snapshots (id, record) VALUES (?, ?)").run(id, JSON.stringify(record));
  }

  deleteSnapshot(id: string): void {
    this.db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }

  /**
   * The stat cache of one folder, loaded in one query when first asked for: a commit looks up
   * every file two or three times, and a query each cost a quarter of a second on 9,400 files.
   */
  cachedFile(root: string, relPath: string): CachedFileRow | undefined {
    if (this.fileMap?.root !== root) {
      const files = new Map<string, CachedFile & { generation: number }>();
      for (const row of this.stmts.files.iterate(root)) {
        files.set(row.path, { size: row.size, mtimeNs: row.mtime, ctimeNs: row.ctime, ino: row.ino, chunks: JSON.parse(row.chunks) as string[], sqlite: row.sqlite === 1, generation: row.generation, ...(row.stored_size !== null ? { storedSize: row.stored_size } : {}) });
      }
      this.fileMap = { root, files };
    }
    const row = this.fileMap.files.get(relPath);
    if (!row) return undefined;
    const { generation, ...file } = row;
    return { ...file, chunksIndexed: generation === this.currentGeneration() };
  }

  /**
   * The chunks the stat cache of `root` lists for one file, by a query of its own: for the few
   * databases of a reused listing whose memo predates content digests, where loading the whole
   * stat cache (as cachedFile does) cost a no-change commit tens of milliseconds.
   */
  cachedChunks(root: string, relPath: string): string[] | undefined {
    if (this.fileMap?.root === root) return this.fileMap.files.get(relPath)?.chunks;
    const row = this.stmts.fileChunks.get(root, relPath);
    return row && (JSON.parse(row.chunks) as string[]);
  }

  private currentGeneration(): number {
    return (this.cachedGeneration ??= this.generation());
  }

  /**
   * Replaces the stat cache of `root` with `files`, all of whose chunks are in the index now.
   * Rows that did not change are left alone (a no-change commit rewrote 9,400 rows otherwise).
   */
  putFiles(root: string, files: { path: string; file: CachedFile }[]): void {
    const generation = this.generation();
    const before = this.fileMap?.root === root ? this.fileMap.files : undefined;
    this.fileMap = undefined;
    this.cachedGeneration = undefined;
    this.db.transaction(() => {
      if (!before) this.db.prepare("DELETE FROM files WHERE root = ?").run(root);
      const present = new Set<string>();
      for (const { path: p, file: f } of files) {
        present.add(p);
        const old = before?.get(p);
        if (old && old.generation === generation && old.chunks === f.chunks && old.size === f.size && old.mtimeNs === f.mtimeNs && old.ctimeNs === f.ctimeNs && old.ino === f.ino && old.sqlite === f.sqlite && old.storedSize === f.storedSize) continue;
        this.stmts.putFile.run(root, p, f.size, f.mtimeNs, f.ctimeNs, f.ino, JSON.stringify(f.chunks), f.sqlite ? 1 : 0, generation, f.storedSize ?? null);
      }
      if (before) for (const p of before.keys()) if (!present.has(p)) this.stmts.deleteFile.run(root, p);
    })();
  }

  /** The listing memo of `root`, if no blob has left the index since it was written. */
  listingMemo(root: string): ListingMemo | undefined {
    const row = this.db.prepare<[string], { memo: string; generation: number }>("SELECT memo, generation FROM listing_memos WHERE root = ?").get(root);
    return row && row.generation === this.generation() ? (JSON.parse(row.memo) as ListingMemo) : undefined;
  }

  putListingMemo(root: string, memo: ListingMemo | undefined): void {
    if (memo) this.db.prepare("INSERT OR REPLACE INTO listing_memos (root, memo, generation) VALUES (?, ?, ?)").run(root, JSON.stringify(memo), this.generation());
    else this.db.prepare("DELETE FROM listing_memos WHERE root = ?").run(root);
  }

  /** The last quick_check of the database at `relPath` under `root`, if one is remembered. */
  databaseCheck(root: string, relPath: string): DatabaseCheck | undefined {
    const row = this.db.prepare<[string, string], { content: string; checked_ms: number; passed: number }>("SELECT content, checked_ms, passed FROM database_checks WHERE root = ? AND path = ?").get(root, relPath);
    return row && { content: row.content, checkedMs: row.checked_ms, passed: row.passed === 1 };
  }

  putDatabaseChecks(root: string, checks: readonly { path: string; check: DatabaseCheck }[]): void {
    if (checks.length === 0) return;
    const put = this.db.prepare("INSERT OR REPLACE INTO database_checks (root, path, content, checked_ms, passed) VALUES (?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const { path: p, check: c } of checks) put.run(root, p, c.content, c.checkedMs, c.passed ? 1 : 0);
    })();
  }

  /**
   * The page-group hashes of the database at `relPath` as last stored (engine/sqlite/unchanged-groups.ts),
   * with the digest of the chunk ids they belong to (`content`, as check-schedule.ts's contentDigest).
   */
  groupHashes(root: string, relPath: string): { content: string; hashes: Uint8Array } | undefined {
    return this.db.prepare<[string, string], { content: string; hashes: Buffer }>("SELECT content, hashes FROM group_hashes WHERE root = ? AND path = ?").get(root, relPath);
  }

  putGroupHashes(root: string, rows: readonly { path: string; content: string; hashes: Uint8Array }[]): void {
    if (rows.length === 0) return;
    const put = this.db.prepare("INSERT OR REPLACE INTO group_hashes (root, path, content, hashes) VALUES (?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const r of rows) put.run(root, r.path, r.content, r.hashes);
    })();
  }

  close(): void {
    this.db.close();
  }
}
