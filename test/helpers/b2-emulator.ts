// A small Backblaze B2 emulator for tests: an HTTP server on loopback that answers
// b2_authorize_account (v3, Basic auth with keyId:applicationKey) in the documented shape, with
// `apiInfo.storageApi.s3ApiUrl` pointing at a local S3 server, and b2_list_buckets (for the
// lifecycle check). The data itself goes through S3, to the server given as s3ApiUrl.
//
//   const s3 = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
//   const b2 = await startB2Emulator({ s3ApiUrl: s3.endpoint, bucket: s3.bucket });
//   const backend = await openBackend(b2.url("repo"), { env: b2.env() });   // b2://<bucket>/repo
//   ...
//   await b2.stop(); await s3.stop();
//
// Keys (`b2.keys`):
//   full         S3RVER/S3RVER, every capability, every bucket (works with startS3Server() as is)
//   scoped       restricted to `bucket`, the capabilities a backup needs (+ listBuckets)
//   otherBucket  restricted to another bucket              → refused at open
//   otherPrefix  restricted to names under "elsewhere/"    → refused at open
//   readOnly     listFiles and readFiles only              → refused at open unless access: "read"
//   noWrite      every capability except writeFiles        → refused at open
// Any other key ID or a wrong application key gets 401 (bad credentials). The S3 server must know
// the keys that reach it: pass B2_EMULATOR_S3_KEYS to startS3Server for scoped and readOnly.

import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface B2EmulatorKey {
  keyId: string;
  applicationKey: string;
}

export interface B2LifecycleRuleJson {
  fileNamePrefix: string;
  daysFromUploadingToHiding: number | null;
  daysFromHidingToDeleting: number | null;
}

export interface B2EmulatorOptions {
  /** Where the S3 API lives: the S3 test server, or a fault proxy in front of it. */
  s3ApiUrl: string;
  /** The bucket the repository uses (it must exist on the S3 server). */
  bucket: string;
  /** Lifecycle rules b2_list_buckets reports for the bucket (default: none). */
  lifecycleRules?: B2LifecycleRuleJson[];
}

export interface B2EmulatorCounts {
  authorize: number;
  /** Authorize calls refused with 401. */
  rejected: number;
  listBuckets: number;
}

export interface B2Emulator {
  /** Base URL for b2_authorize_account (CLAWBACK_B2_AUTH_URL). */
  authUrl: string;
  bucket: string;
  keys: {
    full: B2EmulatorKey;
    scoped: B2EmulatorKey;
    otherBucket: B2EmulatorKey;
    otherPrefix: B2EmulatorKey;
    readOnly: B2EmulatorKey;
    noWrite: B2EmulatorKey;
  };
  /** B2_APPLICATION_KEY_ID, B2_APPLICATION_KEY and CLAWBACK_B2_AUTH_URL for a key (default: full). */
  env(key?: B2EmulatorKey): Record<string, string>;
  /** b2://<bucket>/<prefix> */
  url(prefix: string): string;
  counts: B2EmulatorCounts;
  setLifecycleRules(rules: B2LifecycleRuleJson[]): void;
  /** Invalidates every authorization token handed out so far (as after 24 hours). */
  expireTokens(): void;
  stop(): Promise<void>;
}

/** Key pairs of the emulator's keys that reach the S3 server (besides S3RVER/S3RVER). */
export const B2_EMULATOR_S3_KEYS: ReadonlyArray<{ accessKeyId: string; secretAccessKey: string }> = [
  { accessKeyId: "0040000000000a1000000001", secretAccessKey: "K004scopedSecretForTheTestBucket" },
  { accessKeyId: "0040000000000a1000000002", secretAccessKey: "K004readOnlySecretForTheTestBckt" },
];

export const ALL_B2_CAPABILITIES = [
  "listKeys", "writeKeys", "deleteKeys", "listBuckets", "listAllBucketNames", "readBuckets", "writeBuckets", "deleteBuckets",
  "readBucketRetentions", "writeBucketRetentions", "readBucketEncryption", "writeBucketEncryption", "listFiles", "readFiles",
  "shareFiles", "writeFiles", "deleteFiles", "readFileLegalHolds", "writeFileLegalHolds", "readFileRetentions",
  "writeFileRetentions", "bypassGovernance",
];

interface KeySpec extends B2EmulatorKey {
  buckets: string[] | null;
  namePrefix: string | null;
  capabilities: string[];
}

export async function startB2Emulator(options: B2EmulatorOptions): Promise<B2Emulator> {
  const bucket = options.bucket;
  const bucketId = "4a48fe8875c6214145260818";
  let lifecycleRules = options.lifecycleRules ?? [];
  const backup = ["listBuckets", "listFiles", "readFiles", "writeFiles", "deleteFiles"];
  const specs: Record<keyof B2Emulator["keys"], KeySpec> = {
    full: { keyId: "S3RVER", applicationKey: "S3RVER", buckets: null, namePrefix: null, capabilities: ALL_B2_CAPABILITIES },
    scoped: { keyId: B2_EMULATOR_S3_KEYS[0]!.accessKeyId, applicationKey: B2_EMULATOR_S3_KEYS[0]!.secretAccessKey, buckets: [bucket], namePrefix: null, capabilities: backup },
    otherBucket: { keyId: "0040000000000a1000000003", applicationKey: "K004otherBucketSecret", buckets: ["someone-elses-bucket"], namePrefix: null, capabilities: backup },
    otherPrefix: { keyId: "0040000000000a1000000004", applicationKey: "K004otherPrefixSecret", buckets: [bucket], namePrefix: "elsewhere/", capabilities: backup },
    readOnly: { keyId: B2_EMULATOR_S3_KEYS[1]!.accessKeyId, applicationKey: B2_EMULATOR_S3_KEYS[1]!.secretAccessKey, buckets: [bucket], namePrefix: null, capabilities: ["listBuckets", "listFiles", "readFiles", "shareFiles"] },
    noWrite: { keyId: "0040000000000a1000000005", applicationKey: "K004noWriteSecret", buckets: null, namePrefix: null, capabilities: ALL_B2_CAPABILITIES.filter((c) => c !== "writeFiles") },
  };
  const tokens = new Map<string, KeySpec>();
  const counts: B2EmulatorCounts = { authorize: 0, rejected: 0, listBuckets: 0 };
  let authUrl = "";

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json;charset=utf-8", "content-length": Buffer.byteLength(text), "cache-control": "max-age=0, no-cache, no-store" });
    res.end(text);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname === "/b2api/v3/b2_authorize_account") {
        counts.authorize++;
        const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
        const [id, ...rest] = m ? Buffer.from(m[1]!, "base64").toString("utf8").split(":") : [];
        const spec = Object.values(specs).find((s) => s.keyId === id && s.applicationKey === rest.join(":"));
        if (!spec) {
          counts.rejected++;
          return send(res, 401, { code: "unauthorized", message: "", status: 401 });
        }
        const token = `4_${spec.keyId}_${counts.authorize}_acct`;
        tokens.set(token, spec);
        return send(res, 200, {
          accountId: "a1b2c3d4e5f6",
          apiInfo: {
            groupsApi: { capabilities: [], groupsApiUrl: authUrl, infoType: "groupsApi" },
            storageApi: {
              absoluteMinimumPartSize: 5000000,
              allowed: {
                buckets: spec.buckets === null ? null : spec.buckets.map((name) => ({ id: name === bucket ? bucketId : "0000000000000000000000ff", name })),
                capabilities: spec.capabilities,
                namePrefix: spec.namePrefix,
              },
              apiUrl: authUrl,
              downloadUrl: authUrl,
              infoType: "storageApi",
              recommendedPartSize: 100000000,
              s3ApiUrl: options.s3ApiUrl,
            },
          },
          applicationKeyExpirationTimestamp: null,
          authorizationToken: token,
        });
      }
      if (url.pathname === "/b2api/v3/b2_list_buckets") {
        counts.listBuckets++;
        const spec = tokens.get(req.headers.authorization ?? "");
        if (!spec) return send(res, 401, { code: "bad_auth_token", message: "Invalid authorization token", status: 401 });
        if (!spec.capabilities.includes("listBuckets")) return send(res, 401, { code: "unauthorized", message: "not entitled", status: 401 });
        let filter: { bucketName?: string } = {};
        try {
          filter = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { bucketName?: string };
        } catch {
          return send(res, 400, { code: "bad_request", message: "bad JSON", status: 400 });
        }
        const visible = spec.buckets === null || spec.buckets.includes(bucket);
        const match = !filter.bucketName || filter.bucketName === bucket;
        return send(res, 200, {
          buckets:
            visible && match
              ? [{ accountId: "a1b2c3d4e5f6", bucketId, bucketName: bucket, bucketType: "allPrivate", bucketInfo: {}, lifecycleRules, revision: 1, options: ["s3"] }]
              : [],
        });
      }
      send(res, 404, { code: "not_found", message: `no such API: ${url.pathname}`, status: 404 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  authUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const keys = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, { keyId: s.keyId, applicationKey: s.applicationKey }])) as B2Emulator["keys"];
  return {
    authUrl,
    bucket,
    keys,
    env: (key = keys.full) => ({ B2_APPLICATION_KEY_ID: key.keyId, B2_APPLICATION_KEY: key.applicationKey, CLAWBACK_B2_AUTH_URL: authUrl }),
    url: (prefix) => `b2://${bucket}/${prefix.replace(/^\/+/, "")}`,
    counts,
    setLifecycleRules(rules) {
      lifecycleRules = rules;
    },
    expireTokens() {
      tokens.clear();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
