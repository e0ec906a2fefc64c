import type { Backend } from "../storage/backend.ts";
import type { RepoKeys } from "../crypto/keys.ts";
import type { RepoConfig } from "../repo/config.ts";
import type { IndexCache } from "../index/cache.ts";
import type { Chunker } from "../chunker/index.ts";
import type { BlobReader } from "./blob-reader.ts";
import type { BlobCodec } from "./codec/codec-pool.ts";

/** Everything a command needs from an open repository. Commands are functions over this. */
export interface RepoContext {
  readonly backend: Backend;
  readonly keys: RepoKeys;
  readonly config: RepoConfig;
  readonly cache: IndexCache;
  /**
   * The repository's chunker (its kernel instance and keyed gear table), made on first use: a
   * commit that finds nothing to read, and most commands, never cut a chunk.
   */
  chunker(): Promise<Chunker>;
  readonly reader: BlobReader;
  /** Blob compression/sealing and opening (worker threads), started on first use. */
  codec(): BlobCodec;
}
