import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { openBackend } from "../../src/storage/open.ts";
import { describeBackendConformance } from "./conformance.ts";

let root = "";
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "clawback-local-conf-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeBackendConformance("LocalBackend", (prefix) => openBackend(path.join(root, prefix)));
