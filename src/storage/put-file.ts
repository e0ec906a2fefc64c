import * as fs from "node:fs/promises";
import type { Backend, LocalFile } from "./backend.ts";

/**
 * Stores the local file as the object `key`: through the backend's `putFile` where it has one
 * (the file is never in memory whole), otherwise read into memory and `put`.
 */
export async function putFile(backend: Backend, key: string, file: LocalFile): Promise<void> {
  if (backend.putFile) return backend.putFile(key, file);
  return backend.put(key, await fs.readFile(file.path));
}
