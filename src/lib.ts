// The library's public surface: what the CLI, the OpenClaw plugin and other programs import.
export { Repository, defaultCacheDir, type OpenOptions, type InitOptions, type UnlockResult } from "./engine/repository.ts";
export type { LockInfo } from "./repo/lock.ts";
export type { SourceScan } from "./engine/commit/source-scan.ts";
export { recoverTarget, type RecoveryReport } from "./engine/checkout/recover.ts";
export * from "./engine/types.ts";
export * from "./errors.ts";
export type { Backend, RequestCounts } from "./storage/backend.ts";
