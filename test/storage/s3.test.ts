import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageAuthError, StorageError, TransientStorageError } from "../../src/errors.ts";
import type { Backend, ObjectInfo } from "../../src/storage/backend.ts";
import { deleteMany } from "../../src/storage/delete.ts";
import { putFile } from "../../src/storage/put-file.ts";
import { openBackend, type BackendOptions } from "../../src/storage/open.ts";
import { RetryBackend, withRetries, type RetryOptions } from "../../src/storage/retry.ts";
import { S3Backend } from "../../src/storage/s3.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { describeBackendConformance, S3RVER_SKIP_KEYS } from "./conformance.ts";

let s3: S3Server;
let proxy: FaultProxy;

beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startFaultProxy({ target: s3.endpoint, rate: 0 });
});
afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

/** Short retry delays: s3rver itself answers 500 now and then under concurrent deletes in one folder. */
const FAST: RetryOptions = { baseDelayMs: 5, maxDelayMs: 40 };

const open = (prefix: string, options: BackendOptions = {}) => openBackend(s3.url(prefix), { env: s3.env, ...options });

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

/** Deterministic pseudo-random bytes (fast, for the 64 MiB object). */
function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view.setUint32(i, x >>> 0, true);
  }
  for (; i < size; i++) out[i] = i & 0xff;
  return out;
}

describeBackendConformance("S3 (s3rver, path-style)", (prefix) => open(prefix), { skipKeys: S3RVER_SKIP_KEYS });

describe("S3 backend on s3rver", () => {
  it("always signs: every request reaching the server carries a SigV4 Authorization header", async () => {
    const b = await open("signing", { env: { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url } });
    const before = { ...proxy.counts };
    await b.put("k/one", new Uint8Array([1, 2, 3]));
    await b.get("k/one");
    await b.get("k/one", { offset: 1, length: 1 });
    await b.head("k/one");
    await collect(b.list("k/"));
    await deleteMany(b, ["k/one"]);
    await b.delete("k/one");
    await b.close();
    expect(proxy.counts.requests - before.requests).toBe(7);
    expect(proxy.counts.signed - before.signed).toBe(7);
    expect(proxy.counts.unsigned).toBe(0);
  });

  it("a wrong secret fails at once with 403, naming bucket, operation and status, never the secret", async () => {
    const secret = "wrong-secret-9f8e7d6c5b4a";
    const b = await open("auth", { env: { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url, AWS_SECRET_ACCESS_KEY: secret } });
    expect(b).toBeInstanceOf(RetryBackend);
    const before = proxy.counts.requests;
    const started = Date.now();
    const err = await b.put("data/aa/pack", new Uint8Array(10)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(proxy.counts.requests - before).toBe(1); // no retries
    expect(err).toBeInstanceOf(StorageAuthError);
    const e = err as StorageAuthError;
    expect(e.message).toContain(s3.bucket);
    expect(e.message).toContain("PUT");
    expect(e.message).toContain("403");
    expect(e.message).not.toContain(secret);
    expect(JSON.stringify(e.details)).not.toContain(secret);
    expect(e.details).toMatchObject({ operation: "put", status: 403, key: "data/aa/pack" });
    // Reads and listings fail the same way.
    await expect(collect(b.list(""))).rejects.toBeInstanceOf(StorageAuthError);
    await expect(b.get("config")).rejects.toBeInstanceOf(StorageAuthError);
    await b.close();
  });

  it("a missing bucket fails at once with 404 and says so", async () => {
    const b = await openBackend("s3://no-such-bucket/repo", { env: s3.env });
    const err = (await b.put("config", new Uint8Array(1)).catch((e: unknown) => e)) as StorageError;
    expect(err).toBeInstanceOf(StorageError);
    expect(err).not.toBeInstanceOf(TransientStorageError);
    expect(err.details.status).toBe(404);
    expect(err.message).toContain("no-such-bucket");
    expect(err.message).toContain("does not exist");
    await b.close();
  });

  it("lists 1,500 objects across pages, then deletes them in batches", async () => {
    const b = (await open("many", { concurrency: 16, retry: FAST })) as RetryBackend;
    const keys = Array.from({ length: 1500 }, (_, i) => `data/${(i % 256).toString(16).padStart(2, "0")}/obj-${String(i).padStart(5, "0")}`);
    await Promise.all(keys.map((k) => b.put(k, new TextEncoder().encode(k))));
    const before = b.counts().list;
    const listRetriesBefore = b.retryStats().retries;
    const listed = await collect(b.list("data/"));
    // 1,000 + 500 (plus any page s3rver failed with 500 and was asked again: seen on a loaded machine).
    expect(b.counts().list - before - (b.retryStats().retries - listRetriesBefore)).toBe(2);
    expect(listed.map((o) => o.key).sort()).toEqual([...keys].sort());
    expect(new Set(listed.map((o) => o.key)).size).toBe(1500);
    for (const o of listed) expect(o.size).toBe(o.key.length);

    const small = await open("many", { listPageSize: 100, retry: FAST });
    const paged = await collect(small.list("data/"));
    expect(small.counts().list).toBe(15);
    expect(paged.map((o) => o.key).sort()).toEqual([...keys].sort());
    await small.close();

    const deletesBefore = b.counts().delete;
    const retriesBefore = b.retryStats().retries;
    await deleteMany(b, keys);
    // Two DeleteObjects requests. A retry (s3rver failing one with 500 on a loaded machine) is of
    // the whole call, which sends both batches again: up to two more requests per retry.
    const deletes = b.counts().delete - deletesBefore;
    const deleteRetries = b.retryStats().retries - retriesBefore;
    expect(deletes).toBeGreaterThanOrEqual(2 + deleteRetries);
    expect(deletes).toBeLessThanOrEqual(2 + 2 * deleteRetries);
    expect(await collect(b.list("data/"))).toEqual([]);
    await b.close();
  });

  it("stores a 64 MiB object and reads ranges of it at arbitrary offsets", async () => {
    const size = 64 * 1024 * 1024;
    const body = patternBytes(size, 42);
    const b = await open("big", { retry: FAST });
    await b.put("data/ff/big", body);
    expect(await b.head("data/ff/big")).toEqual({ key: "data/ff/big", size });
    const whole = await b.get("data/ff/big");
    expect(whole.byteLength).toBe(size);
    expect(createHash("sha256").update(whole).digest("hex")).toBe(createHash("sha256").update(body).digest("hex"));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed / 0x7fffffff);
    for (let i = 0; i < 12; i++) {
      const offset = Math.floor(rnd() * size);
      const length = 1 + Math.floor(rnd() * 3 * 1024 * 1024);
      const got = await b.get("data/ff/big", { offset, length });
      const want = body.subarray(offset, offset + length);
      expect(got.byteLength).toBe(want.byteLength);
      expect(Buffer.from(got).equals(Buffer.from(want)), `range ${offset}+${length}`).toBe(true);
    }
    const tail = await b.get("data/ff/big", { offset: size - 16, length: 16 });
    expect(Buffer.from(tail).equals(Buffer.from(body.subarray(size - 16)))).toBe(true);
    expect(b.counts().bytesUp).toBe(size);
    await b.delete("data/ff/big");
    await b.close();
  });

  it("sends single DELETEs, not DeleteObjects, when batch deletes are off", async () => {
    // A server without DeleteObjects answers 501 NotImplemented and the backend then switches
    // batchDelete off by itself; s3rver implements it, so this sets the switch directly and checks
    // on the wire (through the proxy) what is sent.
    const b = withRetries(new S3Backend({
      endpoint: proxy.url,
      region: "us-east-1",
      bucket: s3.bucket,
      prefix: "nobatch",
      credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID!, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY! },
      batchDelete: false,
    }), FAST);
    for (const k of ["a", "b", "c"]) await b.put(`x/${k}`, new Uint8Array([1]));
    const start = proxy.log.length;
    await deleteMany(b, ["x/a", "x/b", "x/c"]);
    const sent = proxy.log.slice(start);
    expect(sent.filter((r) => r.method === "POST")).toEqual([]);
    expect(new Set(sent.filter((r) => r.method === "DELETE").map((r) => r.path))).toEqual(
      new Set(["a", "b", "c"].map((k) => `/${s3.bucket}/nobatch/x/${k}`)),
    );
    expect(await collect(b.list("x/"))).toEqual([]);
    await b.close();
  });

  it("putFile streams a pack file from disk: a reset mid-upload is retried with the whole file sent again", async () => {
    const b = await open("putfile", { env: { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url }, retry: FAST });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-s3-putfile-"));
    try {
      const body = Buffer.from(patternBytes(5 * 1024 * 1024 + 3, 17));
      const file = path.join(dir, "pack");
      await fs.writeFile(file, body);
      const sha256 = createHash("sha256").update(body).digest("hex");
      const before = proxy.counts.requests;
      proxy.inject("reset", "500");
      await putFile(b, "data/aa/aa01", { path: file, size: body.byteLength, sha256 });
      expect(proxy.counts.requests - before).toBe(3); // two faults, then the upload that lands
      expect(Buffer.from(await b.get("data/aa/aa01")).equals(body)).toBe(true);
      expect((b as RetryBackend).retryStats().retries).toBe(2);
    } finally {
      await b.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("putFile sends the file's SHA-256 as the signed payload hash and the caller's MD5 as Content-MD5, then the file", async () => {
    // A server that records what arrives (s3rver checks neither header against the body).
    const seen: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { "content-length": "0" }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const b = new S3Backend({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: "us-east-1", bucket: "bkt", credentials: { accessKeyId: "AK", secretAccessKey: "SK" } });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "clawback-s3-putfile-"));
    try {
      expect(b.putFileMd5).toBe(true);
      const body = Buffer.from(patternBytes(3_000_001, 5));
      const file = path.join(dir, "pack");
      await fs.writeFile(file, body);
      const sha256 = createHash("sha256").update(body).digest("hex");
      const md5 = createHash("md5").update(body).digest("base64");
      // Given by the caller: sent as it is.
      await b.putFile("data/bb/bb01", { path: file, size: body.byteLength, sha256, md5: "given-md5" });
      // Not given: read from the file.
      await b.putFile("data/bb/bb02", { path: file, size: body.byteLength, sha256 });
      expect(seen.map((r) => r.headers["content-md5"])).toEqual(["given-md5", md5]);
      for (const r of seen) {
        expect(r.headers["x-amz-content-sha256"]).toBe(sha256);
        expect(r.headers["content-length"]).toBe(String(body.byteLength));
        expect(r.body.equals(body)).toBe(true);
      }
    } finally {
      await b.close();
      server.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("names the backend location without credentials", async () => {
    const b: Backend = await open("loc/sub/");
    expect(b.location).toBe(`s3://${s3.bucket}/loc/sub/`);
    expect(b.location).not.toContain("S3RVER");
    await b.close();
  });
});
