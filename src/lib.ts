// The library's public surface: what the CLI, the OpenClaw plugin and other programs import.
export { Repository, defaultCacheDir, type OpenOptions, type InitOptions, type UnlockResult } from "./engine/repository.ts";
export type { LockInfo } from "./repo/lock.ts";
export type { SourceScan } from "./engine/commit/source-scan.ts";
export { recoverTarget, type RecoveryReport } from "./engine/checkout/recover.ts";
export * from "./engine/types.ts";
export * from "./errors.ts";
export type { Backend, RequestCounts } from "./storage/backend.ts";
// For programs that restore into a live state folder (the OpenClaw plugin's restore): the one
// safe way to write into a database another process has open, and the path rule commits use.
export { restoreIntoLiveDatabase, type RestoreIntoOptions } from "./engine/sqlite/sqlite-restore.ts";
// Every other connection such a program opens to a live database: recorded, so that the engine
// never reads that file through plain descriptors meanwhile (DESIGN.md, "One process, one set of locks").
export { openLiveDatabase } from "./engine/sqlite/live-connections.ts";
export { compileMatcher, type Matcher } from "./engine/excludes.ts";
