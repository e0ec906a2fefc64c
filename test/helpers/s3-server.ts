// A real S3 server for tests: @20minutes/s3rver 5.0.0 in a child process on 127.0.0.1 (a random
// free port, a fresh temporary folder, path-style, credentials S3RVER/S3RVER, signature checking
// on), with one bucket created.
//
//   const s3 = await startS3Server();
//   const backend = await openBackend(s3.url("repo"), { env: s3.env });   // s3://<bucket>/repo
//   ...
//   await s3.stop();
//
// `env` holds CLAWBACK_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, so a
// test (or a child clawback process) reaches the server through the environment alone. The server
// runs in its own process because its continuation tokens use DES, which needs
// NODE_OPTIONS=--openssl-legacy-provider, and so that its CPU does not share the test's event loop.
//
// s3rver's gaps: it accepts unsigned requests (a test must check that the client signs), ignores
// Content-MD5 and x-amz-content-sha256, has no suffix ranges and no conditional PUT, and signs
// virtual-hosted requests wrongly (use fauxqs for virtual-hosted addressing).

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  /** s3://<bucket>/<prefix> */
  url: (prefix: string) => string;
  /** CLAWBACK_S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  /** Bucket to create (default "clawback-test"). */
  bucket?: string;
  /** More access key pairs the server accepts besides S3RVER/S3RVER (e.g. for B2 emulator keys). */
  extraKeys?: ReadonlyArray<{ accessKeyId: string; secretAccessKey: string }>;
}

export const S3RVER_ACCESS_KEY_ID = "S3RVER";
export const S3RVER_SECRET_ACCESS_KEY = "S3RVER";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

// Runs in the child (CommonJS, resolved from the project root).
const CHILD = `
const S3rver = require("@20minutes/s3rver");
const { DUMMY_ACCOUNT } = require("@20minutes/s3rver/lib/models/account");
const cfg = JSON.parse(process.env.S3RVER_CONFIG);
for (const k of cfg.extraKeys) DUMMY_ACCOUNT.createKeyPair(k.accessKeyId, k.secretAccessKey);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory: cfg.directory,
  vhostBuckets: false,
  allowMismatchedSignatures: false,
  configureBuckets: [{ name: cfg.bucket }],
});
server.run().then((addr) => {
  process.stdout.write(JSON.stringify({ port: addr.port }) + "\\n");
}, (err) => { console.error(err); process.exit(1); });
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => server.close().finally(() => process.exit(0)));
`;

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const bucket = options.bucket ?? "clawback-test";
  const directory = await mkdtemp(path.join(tmpdir(), "clawback-s3rver-"));
  const child: ChildProcess = spawn(process.execPath, ["-e", CHILD], {
    cwd: projectRoot,
    stdio: ["pipe", "pipe", "pipe"],
    env: {
      ...process.env,
      NODE_OPTIONS: "--openssl-legacy-provider",
      S3RVER_CONFIG: JSON.stringify({ bucket, directory, extraKeys: options.extraKeys ?? [] }),
    },
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
        } catch (err) {
          reject(err as Error);
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code}: ${stderr}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    endpoint,
    bucket,
    url: (prefix: string) => `s3://${bucket}/${prefix.replace(/^\/+/, "")}`,
    env: {
      CLAWBACK_S3_ENDPOINT: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_ACCESS_KEY,
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      });
      await rm(directory, { recursive: true, force: true });
    },
  };
}
