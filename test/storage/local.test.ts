import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
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

it("LocalBackend stores a file from another file system by copying it (a hard link cannot cross), and leaves it there", async () => {
  // /dev/shm is a tmpfs, never the file system of the temporary folder the repository is in here.
  const shm = await mkdtemp("/dev/shm/clawback-local-putfile-").catch(() => undefined);
  if (!shm) return;
  try {
    const body = randomBytes(200_001);
    const file = path.join(shm, "pack");
    await writeFile(file, body);
    const b = await openBackend(path.join(root, "cross-device"));
    await b.putFile!("data/ab/ab02", { path: file, size: body.byteLength, sha256: createHash("sha256").update(body).digest("hex") });
    expect(Buffer.from(await b.get("data/ab/ab02")).equals(body)).toBe(true);
    expect((await stat(file)).nlink).toBe(1);
    expect((await readFile(file)).equals(body)).toBe(true);
  } finally {
    await rm(shm, { recursive: true, force: true });
  }
});

it("LocalBackend stores a file on its own file system as a hard link: no byte copied", async () => {
  const dir = await mkdtemp(path.join(root, "link-src-"));
  const body = randomBytes(100_000);
  const file = path.join(dir, "pack");
  await writeFile(file, body);
  const b = await openBackend(path.join(root, "same-device"));
  await b.putFile!("data/ab/ab03", { path: file, size: body.byteLength, sha256: createHash("sha256").update(body).digest("hex") });
  // The stored object and the caller's file are one inode until the caller removes its name.
  expect((await stat(file)).nlink).toBe(2);
  expect((await stat(path.join(root, "same-device", "data", "ab", "ab03"))).ino).toBe((await stat(file)).ino);
});
