import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.ts";
import type { Backend } from "./backend.ts";
import { LocalBackend } from "./local.ts";

/** Settings a backend may need beyond its URL (credentials come from here, never from the URL). */
export interface BackendOptions {
  env?: Record<string, string | undefined>;
}

/** Opens the backend a repository URL names: file:///path (or a plain path), s3://…, b2://…. */
export async function openBackend(url: string, _options: BackendOptions = {}): Promise<Backend> {
  if (url.startsWith("file://")) return new LocalBackend(fileURLToPath(url));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return new LocalBackend(path.resolve(url));
  throw new UsageError(`unsupported repository URL scheme in ${JSON.stringify(url.replace(/\/\/[^@/]*@/, "//"))}: use file://, s3:// or b2://`);
}
