import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StorageAuthError } from "../../src/errors.ts";
import { b2TransactionClasses, emptyCounts } from "../../src/storage/backend.ts";
import {
  B2Backend,
  lifecycleWarnings,
  parseAuthorizeResponse,
  regionFromS3ApiUrl,
} from "../../src/storage/b2.ts";
import { openBackend, type BackendOptions } from "../../src/storage/open.ts";
import { RetryBackend } from "../../src/storage/retry.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator, type B2EmulatorKey } from "../helpers/b2-emulator.ts";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { describeBackendConformance, S3RVER_SKIP_KEYS } from "./conformance.ts";

let s3: S3Server;
let b2: B2Emulator;

beforeAll(async () => {
  s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
  b2 = await startB2Emulator({ s3ApiUrl: s3.endpoint, bucket: s3.bucket });
});
afterAll(async () => {
  await b2?.stop();
  await s3?.stop();
});

const open = (prefix: string, key?: B2EmulatorKey, options: BackendOptions = {}) => openBackend(b2.url(prefix), { env: b2.env(key), ...options });

function b2Inner(b: unknown): B2Backend {
  const inner = b instanceof RetryBackend ? b.inner : b;
  expect(inner).toBeInstanceOf(B2Backend);
  return inner as B2Backend;
}

describeBackendConformance("B2 (emulator → s3rver)", (prefix) => open(prefix), { skipKeys: S3RVER_SKIP_KEYS });

describe("B2 region detection", () => {
  it.each([
    ["https://s3.us-west-004.backblazeb2.com", "us-west-004"],
    ["https://s3.eu-central-003.backblazeb2.com/", "eu-central-003"],
    ["https://s3.us-east-005.backblazeb2.com:443", "us-east-005"],
    ["https://S3.US-WEST-002.BackblazeB2.com", "us-west-002"],
    ["https://s3.us-west-000.backblazeb2.xyz:8180", "us-west-000"],
    ["s3.ca-east-006.backblazeb2.com", "ca-east-006"],
    ["https://s3.us-west-001.backblazeb2.com./some/path", "us-west-001"],
    ["http://127.0.0.1:9000", undefined],
    ["http://localhost:4568", undefined],
    ["not a url", undefined],
  ])("%s → %s", (url, region) => {
    expect(regionFromS3ApiUrl(url)).toBe(region);
  });

  it("signs with the region from s3ApiUrl, and us-east-1 when it has none", async () => {
    const remote = await startB2Emulator({ s3ApiUrl: "https://s3.us-west-004.backblazeb2.com", bucket: "bkt" });
    try {
      const b = await openBackend(remote.url("repo"), { env: remote.env() }); // opening makes no S3 request
      expect(b2Inner(b).region).toBe("us-west-004");
      expect(b2Inner(b).endpointLabel).toBe("https://s3.us-west-004.backblazeb2.com");
      expect(b.location).toBe("b2://bkt/repo/");
      await b.close();
    } finally {
      await remote.stop();
    }
    const local = await open("repo");
    expect(b2Inner(local).region).toBe("us-east-1");
    await local.close();
  });

  it("reads the v3 answer, the flattened one and the v2 one", () => {
    const v3 = parseAuthorizeResponse({
      accountId: "acc",
      authorizationToken: "tok",
      apiInfo: {
        storageApi: {
          apiUrl: "https://api004.backblazeb2.com",
          s3ApiUrl: "https://s3.us-west-004.backblazeb2.com",
          allowed: { buckets: [{ id: "id1", name: "mine" }], capabilities: ["listFiles"], namePrefix: null },
        },
      },
    });
    expect(v3).toMatchObject({ region: "us-west-004", allowedBuckets: [{ id: "id1", name: "mine" }], capabilities: ["listFiles"], namePrefix: null, apiUrl: "https://api004.backblazeb2.com" });
    const flat = parseAuthorizeResponse({
      accountId: "acc",
      apiInfo: { storageApi: { s3ApiUrl: "https://s3.eu-central-003.backblazeb2.com", bucketId: null, bucketName: null, capabilities: ["readFiles"], namePrefix: null } },
    });
    expect(flat).toMatchObject({ region: "eu-central-003", allowedBuckets: null, capabilities: ["readFiles"] });
    const v2 = parseAuthorizeResponse({
      accountId: "acc",
      s3ApiUrl: "https://s3.us-east-005.backblazeb2.com",
      allowed: { bucketId: "b1", bucketName: "only", capabilities: ["writeFiles"], namePrefix: "p/" },
    });
    expect(v2).toMatchObject({ region: "us-east-005", allowedBuckets: [{ id: "b1", name: "only" }], namePrefix: "p/" });
  });
});

describe("B2 key checks at open", () => {
  it("accepts a key scoped to the repository's bucket and uses it end to end", async () => {
    const b = await open("scoped", b2.keys.scoped);
    await b.put("config", new TextEncoder().encode("cfg"));
    expect(new TextDecoder().decode(await b.get("config"))).toBe("cfg");
    await b.delete("config");
    await b.close();
  });

  it("refuses a key scoped to another bucket, naming both buckets, never the key", async () => {
    const err = (await open("x", b2.keys.otherBucket).catch((e: unknown) => e)) as StorageAuthError;
    expect(err).toBeInstanceOf(StorageAuthError);
    expect(err.message).toContain('"someone-elses-bucket"');
    expect(err.message).toContain(`"${s3.bucket}"`);
    expect(err.message).not.toContain(b2.keys.otherBucket.applicationKey);
  });

  it("refuses a key without writeFiles, naming the capability", async () => {
    const err = (await open("x", b2.keys.noWrite).catch((e: unknown) => e)) as StorageAuthError;
    expect(err).toBeInstanceOf(StorageAuthError);
    expect(err.message).toMatch(/lacks the capability writeFiles\b/);
    expect(err.message).toContain(`"${s3.bucket}"`);
    expect(err.message).not.toContain(b2.keys.noWrite.applicationKey);
  });

  it("refuses a read-only key for a backup, accepts it for reading", async () => {
    const err = (await open("x", b2.keys.readOnly).catch((e: unknown) => e)) as StorageAuthError;
    expect(err).toBeInstanceOf(StorageAuthError);
    expect(err.message).toContain("writeFiles, deleteFiles");
    const reader = await open("x", b2.keys.readOnly, { access: "read" });
    expect(await reader.head("config")).toBeUndefined();
    await reader.close();
  });

  it("refuses a key restricted to another name prefix", async () => {
    const err = (await open("repo", b2.keys.otherPrefix).catch((e: unknown) => e)) as StorageAuthError;
    expect(err).toBeInstanceOf(StorageAuthError);
    expect(err.message).toContain('"elsewhere/"');
  });

  it("refuses bad credentials at once with 401, without echoing them", async () => {
    const before = b2.counts.authorize;
    const started = Date.now();
    const secret = "K004this-is-not-a-valid-key";
    const err = (await open("x", { keyId: "0040000000000badbadbad", applicationKey: secret }).catch((e: unknown) => e)) as StorageAuthError;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(b2.counts.authorize - before).toBe(1);
    expect(err).toBeInstanceOf(StorageAuthError);
    expect(err.details.status).toBe(401);
    expect(err.message).toContain(s3.bucket);
    expect(err.message).toContain("401");
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain("0040000000000badbadbad");
  });

  it("names the missing setting when credentials are absent", async () => {
    await expect(openBackend(b2.url("x"), { env: {} })).rejects.toThrow(/B2_APPLICATION_KEY_ID/);
    await expect(openBackend(b2.url("x"), { env: { B2_APPLICATION_KEY_ID: "id" } })).rejects.toThrow(/B2_APPLICATION_KEY\b/);
  });
});

describe("B2 lifecycle check (for `check`)", () => {
  it("warns when hidden versions are kept, and is quiet with the keep-last-version rule", async () => {
    const b = await open("lc");
    expect(b.diagnose).toBeTypeOf("function");
    b2.setLifecycleRules([]);
    const warnings = await b.diagnose!();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("daysFromHidingToDeleting: 1");
    expect(warnings[0]).toContain(s3.bucket);

    b2.setLifecycleRules([{ fileNamePrefix: "", daysFromHidingToDeleting: 1, daysFromUploadingToHiding: null }]);
    expect(await b.diagnose!()).toEqual([]);

    b2.setLifecycleRules([{ fileNamePrefix: "lc/", daysFromHidingToDeleting: 1, daysFromUploadingToHiding: 30 }]);
    const danger = await b.diagnose!();
    expect(danger).toHaveLength(1);
    expect(danger[0]).toContain("hides files 30 days after upload");

    b2.setLifecycleRules([{ fileNamePrefix: "other/", daysFromHidingToDeleting: 1, daysFromUploadingToHiding: null }]);
    expect(await b.diagnose!()).toHaveLength(1);
    b2.setLifecycleRules([]);
    await b.close();
  });

  it("re-authorizes once when the native-API token has expired", async () => {
    const b = await open("lc3");
    b2.setLifecycleRules([{ fileNamePrefix: "", daysFromHidingToDeleting: 1, daysFromUploadingToHiding: null }]);
    b2.expireTokens();
    const before = b2.counts.authorize;
    expect(await b.diagnose!()).toEqual([]);
    expect(b2.counts.authorize - before).toBe(1);
    b2.setLifecycleRules([]);
    await b.close();
  });

  it("says it cannot tell when the key lacks listBuckets", async () => {
    const b = b2Inner(await open("lc2"));
    const blind = new B2Backend(
      { bucket: s3.bucket, prefix: "lc2", keyId: "S3RVER", applicationKey: "S3RVER" },
      { ...b.authorization, capabilities: ["listFiles", "readFiles", "writeFiles", "deleteFiles"] },
    );
    const w = await blind.diagnose();
    expect(w).toHaveLength(1);
    expect(w[0]).toContain("lacks listBuckets");
    await blind.close();
    await b.close();
  });

  it("lifecycle rules apply by prefix", () => {
    expect(lifecycleWarnings("b", "repo/", [{ fileNamePrefix: "repo/", daysFromHidingToDeleting: 1 }])).toEqual([]);
    expect(lifecycleWarnings("b", "repo/", [{ fileNamePrefix: "rep", daysFromHidingToDeleting: 7 }])).toEqual([]);
    expect(lifecycleWarnings("b", "repo/", [{ fileNamePrefix: "repo/data/", daysFromHidingToDeleting: 1 }])).toHaveLength(1);
    expect(lifecycleWarnings("b", "", [{ fileNamePrefix: null, daysFromHidingToDeleting: null }])).toHaveLength(1);
  });
});

describe("B2 transaction classes", () => {
  it("maps request counts to classes A, B and C", () => {
    const c = { ...emptyCounts(), put: 5, delete: 2, get: 7, head: 3, list: 4 };
    expect(b2TransactionClasses(c)).toEqual({ classA: 7, classB: 10, classC: 4 });
  });
});
