import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Repository } from "../../src/engine/repository.ts";
import { StorageAuthError, StorageError } from "../../src/errors.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { describeTree, makeRandomTree, tempDir } from "../helpers/tree.ts";
import { FAST_SCRYPT, PASSPHRASE } from "../helpers/repo.ts";

describe("the engine through a fault-injecting proxy in front of a real S3 server", () => {
  let server: S3Server;
  let proxy: FaultProxy;
  const dirs: string[] = [];
  beforeAll(async () => {
    server = await startS3Server();
    proxy = await startFaultProxy({ target: server.endpoint, rate: 0, seed: 7, slowMs: 300 });
  });
  afterAll(async () => {
    await proxy.stop();
    await server.stop();
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  });

  const viaProxy = () => ({ env: { ...server.env, CLAWBACK_S3_ENDPOINT: proxy.url }, retry: { baseDelayMs: 5, maxDelayMs: 50 } });

  it("at 20 % faults, commit and checkout complete, the restore is byte-identical, and exactly one snapshot is listed", async () => {
    const src = await tempDir("src");
    const dst = path.join(await tempDir("dst"), "out");
    const cacheDir = await tempDir("cache");
    dirs.push(src, path.dirname(dst), cacheDir);
    await makeRandomTree(src, 71, { files: 30 });
    const url = server.url("faulty");
    const opts = { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT, packSize: 256 * 1024, backendOptions: viaProxy() };
    await (await Repository.init(url, opts)).close();

    proxy.setRate(0.2);
    const repo = await Repository.open(url, opts);
    const { snapshot } = await repo.commit(src);
    await repo.checkout(snapshot.id, dst);
    await repo.close();
    const faults = Object.values(proxy.counts.faults).reduce((a, b) => a + b, 0);
    proxy.setRate(0);

    expect(faults).toBeGreaterThan(5);
    expect(await describeTree(dst, { dirTimes: true })).toEqual(await describeTree(src, { dirTimes: true }));
    const clean = await Repository.open(url, { ...opts, cacheDir: await tempDir("cache2"), backendOptions: { env: server.env } });
    expect((await clean.log()).map((s) => s.id)).toEqual([snapshot.id]);
    expect((await clean.check({ readData: true })).errors).toEqual([]);
    await clean.close();
    // Every request that reached the server was signed.
    expect(proxy.counts.unsigned).toBe(0);
  });

  it("a permanent 403 (wrong secret) fails at once with a message naming bucket, operation and status, and no secret", async () => {
    const cacheDir = await tempDir("cache");
    dirs.push(cacheDir);
    const url = server.url("forbidden");
    const good = { passphrase: PASSPHRASE, cacheDir, scrypt: FAST_SCRYPT, backendOptions: { env: server.env } };
    await (await Repository.init(url, good)).close();

    const secret = "definitely-not-the-secret-value";
    const started = Date.now();
    const err = await Repository.open(url, { ...good, backendOptions: { env: { ...server.env, AWS_SECRET_ACCESS_KEY: secret } } }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toBeInstanceOf(StorageAuthError);
    const message = (err as Error).message;
    expect(message).toContain(server.bucket);
    expect(message).toMatch(/403/);
    expect(message).not.toContain(secret);
    expect(message).not.toContain(PASSPHRASE);

    const repo = await Repository.open(url, good);
    expect(await repo.log()).toEqual([]);
    await repo.close();
  });
});
