import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
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

it("LocalBackend reads a range into the buffer it is given (a restore reuses its read buffers)", async () => {
  const b = await openBackend(path.join(root, "into"));
  await b.put("data/ab/ab01", Buffer.from("0123456789"));
  const into = Buffer.alloc(16);
  const got = await b.get("data/ab/ab01", { offset: 2, length: 5, into });
  expect(got.buffer).toBe(into.buffer);
  expect(Buffer.from(got).toString()).toBe("23456");
  // Too small a buffer is not used.
  const small = Buffer.alloc(2);
  expect((await b.get("data/ab/ab01", { offset: 2, length: 5, into: small })).buffer).not.toBe(small.buffer);
  await b.close();
});
