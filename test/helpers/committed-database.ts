import * as path from "node:path";
import type { Scratch } from "./scratch.ts";
import { buildOpenClawLikeDb } from "./sqlite-writer.ts";

/**
 * A fresh repository that has committed a folder holding one OpenClaw-like database of about
 * `bytes` (named `name`), for tests of what the next commit of a changed database does.
 */
export async function committedDatabase(scratch: Scratch, name: string, bytes: number) {
  const t = await scratch.repo();
  const src = await scratch.dir("src");
  const db = path.join(src, name);
  buildOpenClawLikeDb(db, bytes);
  await t.repo.commit(src);
  return { t, src, db };
}
