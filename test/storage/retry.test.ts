import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectNotFoundError, StorageAuthError, StorageError, TransientStorageError } from "../../src/errors.ts";
import type { Backend, ObjectInfo } from "../../src/storage/backend.ts";
import { deleteMany } from "../../src/storage/delete.ts";
import { openBackend, type BackendOptions } from "../../src/storage/open.ts";
import { backoffDelay, RetryBackend, type RetryOptions } from "../../src/storage/retry.ts";
import { B2_EMULATOR_S3_KEYS, startB2Emulator, type B2Emulator } from "../helpers/b2-emulator.ts";
import { startFaultProxy, type FaultKind, type FaultProxy } from "../helpers/fault-proxy.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";

let s3: S3Server;

beforeAll(async () => {
  s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
});
afterAll(async () => {
  await s3?.stop();
});

/** Quick retries for tests: the policy is the same, only the delays are short. */
const FAST: RetryOptions = { baseDelayMs: 5, maxDelayMs: 40, maxAttempts: 10, maxElapsedMs: 30_000 };

async function withProxy<T>(options: Partial<Parameters<typeof startFaultProxy>[0]>, fn: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy({ target: s3.endpoint, ...options });
  try {
    return await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

function openVia(proxy: FaultProxy, prefix: string, options: BackendOptions = {}): Promise<Backend> {
  return openBackend(s3.url(prefix), { env: { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url }, retry: FAST, idleTimeoutMs: 1_000, ...options });
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

describe("retry decorator through the fault proxy", () => {
  it.each<[FaultKind, string]>([
    ["503", "put"],
    ["500", "put"],
    ["reset", "put"],
    ["truncate", "put"],
    ["503", "get"],
    ["500", "get"],
    ["reset", "get"],
    ["truncate", "get"],
    ["reset", "head"],
    ["truncate", "list"],
    ["reset", "delete"],
  ])("recovers from %s on %s", async (fault, op) => {
    await withProxy({}, async (proxy) => {
      const b = (await openVia(proxy, `single-${fault}-${op}`)) as RetryBackend;
      const body = randomBytes(200_000);
      if (op !== "put") await b.put("data/00/obj", body);
      proxy.inject(fault);
      if (op === "put") await b.put("data/00/obj", body);
      if (op === "get" || op === "put") expect(sha(await b.get("data/00/obj"))).toBe(sha(body));
      if (op === "head") expect(await b.head("data/00/obj")).toEqual({ key: "data/00/obj", size: 200_000 });
      if (op === "list") expect(await collect(b.list("data/"))).toEqual([{ key: "data/00/obj", size: 200_000 }]);
      if (op === "delete") {
        await b.delete("data/00/obj");
        expect(await b.head("data/00/obj")).toBeUndefined();
      }
      expect(proxy.counts.faults[fault]).toBe(1);
      expect(b.retryStats().retries).toBe(1);
      await b.close();
    });
  });

  it("honours Retry-After", async () => {
    await withProxy({ retryAfterSeconds: 1 }, async (proxy) => {
      const b = await openVia(proxy, "retry-after");
      await b.put("k", new Uint8Array([1]));
      proxy.inject("503");
      const started = Date.now();
      await b.get("k");
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      await b.close();
    });
  });

  it("aborts a silent request after the idle timeout and retries it", async () => {
    await withProxy({ slowMs: 3_000 }, async (proxy) => {
      const b = (await openVia(proxy, "slow", { idleTimeoutMs: 200 })) as RetryBackend;
      await b.put("k", new Uint8Array([7]));
      proxy.inject("slow");
      const started = Date.now();
      expect(Array.from(await b.get("k"))).toEqual([7]);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(2_500);
      expect(b.retryStats().retries).toBe(1);
      await b.close();
    });
  });

  it("gives up after a bounded number of attempts with a permanent StorageError", async () => {
    await withProxy({ rate: 1, faults: ["500"] }, async (proxy) => {
      const b = await openVia(proxy, "give-up", { retry: { ...FAST, maxAttempts: 4 } });
      const started = Date.now();
      const err = (await b.put("data/11/x", new Uint8Array(5)).catch((e: unknown) => e)) as StorageError;
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(err).toBeInstanceOf(StorageError);
      expect(err).not.toBeInstanceOf(TransientStorageError);
      expect(err.message).toContain("gave up after 4 attempts");
      expect(err.message).toContain(s3.bucket);
      expect(err.message).toContain("500");
      expect(err.details).toMatchObject({ operation: "put", status: 500, key: "data/11/x" });
      expect(proxy.counts.requests).toBe(4);
      await b.close();
    });
  });

  it("gives up at once when Retry-After would pass the time budget", async () => {
    await withProxy({ rate: 1, faults: ["503"], retryAfterSeconds: 30 }, async (proxy) => {
      const b = await openVia(proxy, "budget", { retry: { ...FAST, maxElapsedMs: 2_000 } });
      const started = Date.now();
      await expect(b.head("x")).rejects.toThrow(/gave up after 1 attempts/);
      expect(Date.now() - started).toBeLessThan(1_000);
      await b.close();
    });
  });

  it("does not retry permanent errors: 403 and a missing object", async () => {
    await withProxy({}, async (proxy) => {
      const bad = await openVia(proxy, "perm", { secretAccessKey: "not-the-secret" });
      await expect(bad.get("x")).rejects.toBeInstanceOf(StorageAuthError);
      expect(proxy.counts.requests).toBe(1);
      await bad.close();
      const good = await openVia(proxy, "perm");
      await expect(good.get("absent")).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(proxy.counts.requests).toBe(2);
      await good.close();
    });
  });

  it("restarts a listing that fails halfway without handing out a key twice", async () => {
    await withProxy({}, async (proxy) => {
      const b = (await openVia(proxy, "list-restart", { listPageSize: 10 })) as RetryBackend;
      const keys = Array.from({ length: 47 }, (_, i) => `snapshots/${String(i).padStart(3, "0")}`);
      await Promise.all(keys.map((k) => b.put(k, new Uint8Array([1]))));
      const seen: string[] = [];
      for await (const o of b.list("snapshots/")) {
        seen.push(o.key);
        if (seen.length === 15) proxy.inject("reset", "503"); // the third page fails twice
      }
      expect(seen).toHaveLength(47);
      expect(new Set(seen).size).toBe(47);
      expect(seen.sort()).toEqual(keys);
      expect(b.retryStats().retries).toBe(2);
      await b.close();
    });
  });

  it("at 20% faults of every kind, a workload completes byte-identical", async () => {
    await withProxy({ rate: 0.2, seed: 20260, slowMs: 400 }, async (proxy) => {
      const b = (await openVia(proxy, "twenty", { idleTimeoutMs: 200, listPageSize: 25, concurrency: 8 })) as RetryBackend;
      const bodies = Array.from({ length: 80 }, (_, i) => randomBytes(i % 5 === 0 ? 300_000 : 2_000 + i * 97));
      const keyOf = (d: Uint8Array) => `data/${sha(d).slice(0, 2)}/${sha(d)}`;
      const started = Date.now();
      await Promise.all(bodies.map((d) => b.put(keyOf(d), d)));
      const listed = await collect(b.list("data/"));
      expect(listed).toHaveLength(80);
      expect(new Set(listed.map((o) => o.key)).size).toBe(80);
      const got = await Promise.all(bodies.map((d) => b.get(keyOf(d))));
      got.forEach((g, i) => expect(sha(g)).toBe(sha(bodies[i]!)));
      for (const [i, d] of bodies.entries()) {
        if (i % 8 !== 0) continue;
        const offset = (i * 7919) % d.byteLength;
        const part = await b.get(keyOf(d), { offset, length: 1_000 });
        expect(Buffer.from(part).equals(Buffer.from(d.subarray(offset, offset + 1_000)))).toBe(true);
      }
      const heads = await Promise.all(bodies.map((d) => b.head(keyOf(d))));
      heads.forEach((h, i) => expect(h?.size).toBe(bodies[i]!.byteLength));
      await deleteMany(b, bodies.map(keyOf));
      expect(await collect(b.list("data/"))).toEqual([]);
      const elapsed = Date.now() - started;

      const f = proxy.counts.faults;
      const faults = f["503"] + f["500"] + f.reset + f.truncate + f.slow;
      expect(faults).toBeGreaterThan(proxy.counts.requests * 0.1);
      for (const kind of ["503", "500", "reset", "truncate", "slow"] as const) expect(f[kind], kind).toBeGreaterThan(0);
      expect(b.retryStats().gaveUp).toBe(0);
      expect(b.retryStats().retries).toBeGreaterThanOrEqual(faults - f.slow); // a slow fault may still beat the timeout
      expect(proxy.counts.unsigned).toBe(0);
      expect(elapsed).toBeLessThan(30_000);
      await b.close();
    });
  });

  it("B2 through the proxy: authorize, then S3 with faults", async () => {
    await withProxy({ rate: 0.2, seed: 3, faults: ["503", "500", "reset", "truncate"] }, async (proxy) => {
      let b2: B2Emulator | undefined;
      try {
        b2 = await startB2Emulator({ s3ApiUrl: proxy.url, bucket: s3.bucket });
        const b = await openBackend(b2.url("b2-faults"), { env: b2.env(b2.keys.scoped), retry: FAST });
        const bodies = Array.from({ length: 30 }, (_, i) => randomBytes(50_000 + i));
        await Promise.all(bodies.map((d, i) => b.put(`index/${i}`, d)));
        const got = await Promise.all(bodies.map((_, i) => b.get(`index/${i}`)));
        got.forEach((g, i) => expect(sha(g)).toBe(sha(bodies[i]!)));
        expect(await collect(b.list("index/"))).toHaveLength(30);
        expect(proxy.counts.faults["503"] + proxy.counts.faults["500"] + proxy.counts.faults.reset + proxy.counts.faults.truncate).toBeGreaterThan(0);
        await b.close();
      } finally {
        await b2?.stop();
      }
    });
  });
});

describe("backoff", () => {
  it("doubles from the base up to the cap, jittered between half and all", () => {
    const lo = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0 };
    const hi = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, lo))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, hi))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});
