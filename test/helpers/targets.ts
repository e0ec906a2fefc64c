import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { BackendOptions } from "../../src/storage/open.ts";
import { startS3Server, type S3Server } from "./s3-server.ts";
import { startB2Emulator, B2_EMULATOR_S3_KEYS, type B2Emulator } from "./b2-emulator.ts";
import { tempDir } from "./tree.ts";

/**
 * Where a test repository lives: a local folder, the S3 test server, or B2 (the authorize
 * emulator in front of the S3 test server). Servers start in `start()`, so a suite can list the
 * targets at collection time and bring them up in beforeAll.
 */
export interface RepoTarget {
  readonly name: "local" | "s3" | "b2";
  start(): Promise<void>;
  /** A fresh repository URL (a new folder or key prefix each call). */
  newUrl(): Promise<string>;
  backendOptions(): BackendOptions;
  stop(): Promise<void>;
}

const unique = () => `repo-${randomBytes(6).toString("hex")}`;

export function localTarget(): RepoTarget {
  return {
    name: "local",
    async start() {},
    async newUrl() {
      return path.join(await tempDir("repo"), "repo");
    },
    backendOptions: () => ({}),
    async stop() {},
  };
}

export function s3Target(): RepoTarget {
  let server: S3Server | undefined;
  return {
    name: "s3",
    async start() {
      server = await startS3Server();
    },
    newUrl: async () => server!.url(unique()),
    backendOptions: () => ({ env: server!.env }),
    async stop() {
      await server?.stop();
    },
  };
}

export function b2Target(): RepoTarget {
  let server: S3Server | undefined;
  let b2: B2Emulator | undefined;
  return {
    name: "b2",
    async start() {
      server = await startS3Server({ extraKeys: B2_EMULATOR_S3_KEYS });
      b2 = await startB2Emulator({ s3ApiUrl: server.endpoint, bucket: server.bucket });
    },
    newUrl: async () => b2!.url(unique()),
    backendOptions: () => ({ env: b2!.env() }),
    async stop() {
      await b2?.stop();
      await server?.stop();
    },
  };
}

/** Every target, for suites that must hold on each backend. */
export function allTargets(): RepoTarget[] {
  return [localTarget(), s3Target(), b2Target()];
}
