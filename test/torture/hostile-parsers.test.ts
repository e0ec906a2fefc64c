// Hostile input (issue 14, "must show" 4, first half): every parser of a repository object — pack
// headers, pack manifests, snapshot records, listings, config, key files — fed random bytes and
// mutations of real encodings. Sealed objects are mutated twice over: as bytes (the seal must
// refuse them) and behind the seal (the mutated plaintext is sealed again with the real key, so
// the parser after the seal is reached). Each call must either throw one of the project's typed
// errors (a ClawbackError) or return a value of the documented shape whose sizes and offsets are
// bounded (an entry claiming 4 GB must be refused where it is parsed, before anything allocates
// by it), and must return quickly (no hang).
//
// Cases: about 2,000 by default, over 100,000 under CLAWBACK_TORTURE=1. The seed is printed by
// fast-check on failure; CLAWBACK_TORTURE_SEED replays it.

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { zstdCompressSync } from "node:zlib";
import { ClawbackError } from "../../src/errors.ts";
import { deriveKeys, generateMasterKey } from "../../src/crypto/keys.ts";
import { seal } from "../../src/crypto/seal.ts";
import { createKeyFile, parseKeyFile } from "../../src/crypto/keyfile.ts";
import { BlobType, encodeBlob } from "../../src/repo/blob.ts";
import { PackWriter, entriesToTuples, readPackHeader, type PackEntry } from "../../src/repo/pack.ts";
import { decodeManifest, encodeManifest } from "../../src/repo/manifest.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotRecord } from "../../src/repo/snapshot.ts";
import { sealJson } from "../../src/repo/sealed-json.ts";
import { encodeConfig, newConfig, parseConfig } from "../../src/repo/config.ts";
import { assertSafeEntry, parseListing, listingBlocks } from "../../src/engine/listing.ts";
import type { FileEntry } from "../../src/engine/types.ts";
import { FAST_SCRYPT } from "../helpers/repo.ts";
import { mutatedBytes, mutatedValue, randomInput } from "../helpers/mutations.ts";
import { scale, torturedSeed } from "../helpers/torture-scale.ts";

/** Cases per property: 16 properties, so ~2,000 by default and ~104,000 in the full run. */
const RUNS = scale(130, 6500);
const SEED = torturedSeed();
/**
 * A parser that takes longer than this on inputs of a few kilobytes is hanging (generous: the
 * machine may be busy, and an endless loop ends in the test's timeout anyway).
 */
const SLOW_MS = 5000;
/** No blob is larger (src/repo/blob.ts MAX_BLOB_BYTES), sealed or not, with room for its framing. */
const MAX_BLOB = 64 * 1024 * 1024 + 64;

const keys = deriveKeys(generateMasterKey());
const HEX = /^[0-9a-f]{64}$/;

// ---- Real encodings to mutate ----------------------------------------------------------------

const writer = new PackWriter();
writer.add(encodeBlob(keys, BlobType.data, Buffer.from("hostile input ".repeat(300))));
writer.add(encodeBlob(keys, BlobType.tree, Buffer.from(JSON.stringify({ path: "a", type: "file" }))));
const pack = writer.finish(keys);
const packBytes = Buffer.from(pack.bytes);
const headerLength = packBytes.readUInt32LE(packBytes.length - 4);
const blobRegion = packBytes.subarray(0, packBytes.length - 4 - headerLength);
const headerTuples = entriesToTuples(pack.entries);

const storedManifest = { packs: [{ id: pack.id, size: packBytes.length, blobs: headerTuples }] };
const manifestBytes = encodeManifest(keys, { packs: [{ id: pack.id, size: packBytes.length, blobs: pack.entries }] }).bytes;

const record: SnapshotRecord = {
  version: 1,
  time: new Date(0).toISOString(),
  host: "host",
  reason: "manual",
  tags: ["t"],
  parent: "a".repeat(64),
  root: "/src",
  tree: [pack.entries[1]!.id],
  excludes: ["*.log"],
  stats: { files: 1, dirs: 1, bytes: 10, addedBytes: 10, addedChunks: 1, addedPacks: 1, filesRead: 1, durationMs: 5 },
};
const snapshotBytes = encodeSnapshot(keys, record).bytes;

const listing: FileEntry[] = [
  { path: "dir", type: "dir", mode: 0o755, mtimeMs: 1.5, size: 0 },
  { path: "dir/file", type: "file", mode: 0o644, mtimeMs: 2, size: 4200, chunks: [pack.entries[0]!.id] },
  { path: "dir/db.sqlite", type: "file", mode: 0o600, mtimeMs: 3, size: 0, chunks: [], sqlite: true },
  { path: "link", type: "symlink", mode: 0o777, mtimeMs: 4, size: 3, target: "dir" },
];
const listingBytes = Buffer.concat([...listingBlocks(listing)]);

const configBytes = encodeConfig(newConfig({ sqliteGroupPages: 8 }));
const keyFileBytes = (await createKeyFile(generateMasterKey(), "pw", FAST_SCRYPT)).bytes;

// ---- What a parser may return ----------------------------------------------------------------

const isCount = (n: unknown, max = Number.MAX_SAFE_INTEGER) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= max;

function entryProblem(e: PackEntry, within: number): string | undefined {
  if (typeof e.id !== "string" || !HEX.test(e.id)) return "entry id";
  if (e.type !== 0 && e.type !== 1) return "entry type";
  if (!isCount(e.offset) || !isCount(e.length, MAX_BLOB) || !isCount(e.rawLength, MAX_BLOB)) return `entry offset/length ${e.offset}/${e.length}/${e.rawLength}`;
  if (e.offset + e.length > within) return `entry ${e.offset}+${e.length} beyond ${within}`;
  if (e.base !== undefined && !HEX.test(e.base)) return "entry base";
  return undefined;
}

function manifestProblem(m: ReturnType<typeof decodeManifest>): string | undefined {
  for (const p of m.packs) {
    if (typeof p.id !== "string" || !HEX.test(p.id)) return "pack id";
    if (!isCount(p.size)) return `pack size ${String(p.size)}`;
    for (const e of p.blobs) {
      const bad = entryProblem(e, p.size);
      if (bad) return bad;
    }
  }
  return undefined;
}

function snapshotProblem(r: SnapshotRecord): string | undefined {
  const strings = (a: unknown) => Array.isArray(a) && a.every((s) => typeof s === "string");
  if (typeof r.time !== "string" || typeof r.host !== "string" || typeof r.reason !== "string" || typeof r.root !== "string") return "text fields";
  if (!strings(r.tags) || !strings(r.excludes)) return "tags/excludes";
  if (!Array.isArray(r.tree) || !r.tree.every((id) => typeof id === "string" && HEX.test(id))) return "tree ids";
  if (r.parent !== undefined && (typeof r.parent !== "string" || !HEX.test(r.parent))) return "parent";
  if (typeof r.stats !== "object" || r.stats === null || !Object.values(r.stats).every((v) => typeof v === "number")) return "stats";
  return undefined;
}

function listingEntryProblem(e: FileEntry): string | undefined {
  if (typeof e !== "object" || e === null) return "entry is not an object";
  if (!isCount(e.mode, 0o7777)) return `mode ${String(e.mode)}`;
  if (typeof e.mtimeMs !== "number" || !Number.isFinite(e.mtimeMs)) return "mtime";
  if (!isCount(e.size)) return `size ${String(e.size)}`;
  if (e.chunks !== undefined && (!Array.isArray(e.chunks) || !e.chunks.every((c) => typeof c === "string" && HEX.test(c)))) return "chunks";
  if (e.type === "file" && !Array.isArray(e.chunks)) return "file without chunks";
  if (e.type === "symlink" && typeof e.target !== "string") return "link target";
  return undefined;
}

function configProblem(c: ReturnType<typeof parseConfig>): string | undefined {
  const ch = c.chunker;
  if (!isCount(ch.minSize, 1 << 20) || !isCount(ch.avgSize, 1 << 22) || !isCount(ch.maxSize, 1 << 24) || !isCount(ch.normalization, 3)) return "chunker";
  if (!isCount(c.packSize, 1 << 30) || !isCount(c.sqliteGroupPages, 1 << 16)) return `packSize ${String(c.packSize)} / sqliteGroupPages ${String(c.sqliteGroupPages)}`;
  return undefined;
}

function keyFileProblem(k: ReturnType<typeof parseKeyFile>): string | undefined {
  const p = k.scrypt;
  if (!Number.isSafeInteger(p.N) || !Number.isSafeInteger(p.r) || !Number.isSafeInteger(p.p)) return `scrypt ${JSON.stringify(p)}`;
  return undefined;
}

// ---- The properties --------------------------------------------------------------------------

/**
 * Runs `parse` on the input: it throws a ClawbackError, or returns something `problem` accepts,
 * within SLOW_MS. Anything else fails the property with a message naming what went wrong.
 */
function hostile<I, O>(parse: (input: I) => O, problem: (out: O) => string | undefined): (input: I) => void {
  return (input) => {
    const started = performance.now();
    let out: O;
    try {
      out = parse(input);
    } catch (err) {
      if (!(err instanceof ClawbackError)) throw new Error(`not a typed error: ${(err as Error)?.stack ?? String(err)}`);
      return;
    } finally {
      const ms = performance.now() - started;
      if (ms > SLOW_MS) throw new Error(`took ${Math.round(ms)} ms`);
    }
    const bad = problem(out);
    if (bad) throw new Error(`accepted a malformed value (${bad}): ${JSON.stringify(out).slice(0, 300)}`);
  };
}

function property<I>(arb: fc.Arbitrary<I>, check: (input: I) => void): void {
  fc.assert(fc.property(arb, check), { numRuns: RUNS, seed: SEED, endOnFailure: true });
}

const sealText = (kind: string, text: Buffer) => seal(keys.encryption, zstdCompressSync(text), Buffer.from(`clawback ${kind}`));
const asJsonText = (v: unknown) => Buffer.from(JSON.stringify(v) ?? "null");

const parsePack = (bytes: Buffer) => {
  const entries = readPackHeader(keys, createHash("sha256").update(bytes).digest("hex"), bytes, "data/xx/pack");
  return { entries, within: bytes.length };
};
const packOk = ({ entries, within }: { entries: PackEntry[]; within: number }) => entries.map((e) => entryProblem(e, within)).find(Boolean);
const packWithHeader = (header: Buffer) => {
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(header.length);
  return Buffer.concat([blobRegion, header, trailer]);
};
const parseListingSafely = (bytes: Buffer) => {
  const entries = parseListing(bytes, "tree blob");
  for (const e of entries) assertSafeEntry(e);
  return entries;
};
const listingOk = (entries: FileEntry[]) => entries.map(listingEntryProblem).find(Boolean);

describe(`hostile input to the repository's parsers (${RUNS} cases each, seed ${SEED})`, () => {
  it("pack headers: mutated packs, and mutated headers sealed with the real key", () => {
    property(mutatedBytes(packBytes), hostile(parsePack, packOk));
    property(mutatedValue(headerTuples), hostile((v: unknown) => parsePack(packWithHeader(sealJson(keys.encryption, "pack header", v ?? null))), packOk));
    property(mutatedBytes(asJsonText(headerTuples)), hostile((t: Buffer) => parsePack(packWithHeader(sealText("pack header", t))), packOk));
  });

  it("pack manifests: mutated sealed bytes, and mutated content sealed with the real key", () => {
    const parse = (b: Buffer) => decodeManifest(keys, b, "index/x");
    property(mutatedBytes(manifestBytes), hostile(parse, manifestProblem));
    property(mutatedValue(storedManifest), hostile((v: unknown) => parse(sealJson(keys.encryption, "pack manifest", v ?? null)), manifestProblem));
    property(mutatedBytes(asJsonText(storedManifest)), hostile((t: Buffer) => parse(sealText("pack manifest", t)), manifestProblem));
  });

  it("snapshot records: mutated sealed bytes, and mutated content sealed with the real key", () => {
    const parse = (b: Buffer) => decodeSnapshot(keys, b, "snapshots/x");
    property(mutatedBytes(snapshotBytes), hostile(parse, snapshotProblem));
    property(mutatedValue(record), hostile((v: unknown) => parse(sealJson(keys.encryption, "snapshot", v ?? null)), snapshotProblem));
    property(mutatedBytes(asJsonText(record)), hostile((t: Buffer) => parse(sealText("snapshot", t)), snapshotProblem));
  });

  it("listings (the plaintext of tree blobs): mutated lines and mutated entries", () => {
    property(mutatedBytes(listingBytes), hostile(parseListingSafely, listingOk));
    property(mutatedValue(listing), hostile((v: unknown) => parseListingSafely(Array.isArray(v) ? Buffer.from(v.map((e) => JSON.stringify(e) ?? "null").join("\n")) : asJsonText(v)), listingOk));
  });

  it("config: mutated bytes and mutated fields", () => {
    property(mutatedBytes(configBytes), hostile(parseConfig, configProblem));
    property(mutatedValue(JSON.parse(configBytes.toString())), hostile((v: unknown) => parseConfig(asJsonText(v)), configProblem));
  });

  it("key files: mutated bytes and mutated fields", () => {
    const parse = (b: Buffer) => parseKeyFile("keys/x", b);
    property(mutatedBytes(keyFileBytes), hostile(parse, keyFileProblem));
    property(mutatedValue(JSON.parse(keyFileBytes.toString())), hostile((v: unknown) => parse(asJsonText(v)), keyFileProblem));
  });

  it("random bytes to every parser", () => {
    property(randomInput, (b) => {
      hostile(parsePack, packOk)(b);
      hostile((x: Buffer) => decodeManifest(keys, x, "index/x"), manifestProblem)(b);
      hostile((x: Buffer) => decodeSnapshot(keys, x, "snapshots/x"), snapshotProblem)(b);
      hostile(parseListingSafely, listingOk)(b);
      hostile(parseConfig, configProblem)(b);
      hostile((x: Buffer) => parseKeyFile("keys/x", x), keyFileProblem)(b);
      // The same bytes behind each seal, so the parsers after the seal see them too.
      hostile((x: Buffer) => decodeManifest(keys, sealText("pack manifest", x), "index/x"), manifestProblem)(b);
      hostile((x: Buffer) => decodeSnapshot(keys, sealText("snapshot", x), "snapshots/x"), snapshotProblem)(b);
      hostile((x: Buffer) => parsePack(packWithHeader(sealText("pack header", x))), packOk)(b);
    });
  });

  it("a pack whose trailer claims a 4 GB header is refused before anything is allocated by it", () => {
    const bytes = Buffer.from(packBytes);
    bytes.writeUInt32LE(0xffffffff, bytes.length - 4);
    expect(() => parsePack(bytes)).toThrow(ClawbackError);
  });
});
