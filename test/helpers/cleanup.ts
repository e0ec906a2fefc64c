import { afterAll } from "vitest";
import * as fs from "node:fs/promises";
import { madeTempDirs } from "./tree.ts";

// Set-up file (vitest.config.ts): whatever temporary folders a test file made and did not remove
// itself are removed once it ends, so runs do not leave index caches and trees behind in /tmp.
afterAll(async () => {
  for (const dir of madeTempDirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});
