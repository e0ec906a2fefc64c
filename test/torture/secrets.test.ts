// Secrets (issue 14, "must show" 5; DESIGN.md "Nothing in the bucket except config and keys/ is
// readable without the key", and "never log or store a secret in plaintext"). Distinctive values
// serve as the S3 secret key, the passphrase and the contents of files. After commits, checks,
// a restore and failing commands run with --debug, the test searches every byte it can reach:
//
// - no secret (S3 secret, passphrase, a wrong passphrase and a wrong S3 secret given on purpose)
//   in any command's output, in the index caches, or in the bucket's raw objects;
// - no file content in the bucket or the index cache;
// - no file name, size or content hash (SHA-256, hex or raw) of the source in the bucket's
//   object keys, object sizes or raw bytes.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { startS3Server, type S3Server } from "../helpers/s3-server.ts";
import { childEnv, runCli, type CliRun } from "../helpers/cli-process.ts";
import { randomBytesFrom, prng, tempDir } from "../helpers/tree.ts";
import { openBackend } from "../../src/storage/open.ts";

const S3_KEY_ID = "AKIATORTURESECRETS01";
const S3_SECRET = "s3-Secret-Key-7e41c9d2b05a4f88-torture";
const WRONG_S3_SECRET = "wrong-s3-Secret-aa01bb02cc03dd04";
const PASSPHRASE = "Passphrase-of-the-secrets-test-61f0c3";
const WRONG_PASSPHRASE = "Wrong-Passphrase-e9d8c7b6";
/** Text that would stand out in any plaintext: a file's content, stored compressible on purpose. */
const CONTENT_MARK = "CONTENT-MARK-0f1e2d3c4b5a-private-notes ";

interface SourceFile {
  name: string;
  bytes: Buffer;
}

function sourceFiles(): SourceFile[] {
  return [
    { name: "diary-name-5b2e91.txt", bytes: Buffer.from(CONTENT_MARK.repeat(500)) },
    { name: "tax-return-name-8c3f07.pdf", bytes: randomBytesFrom(prng(3), 777_777) },
    { name: "tiny-name-c4d1a6.json", bytes: Buffer.from(`{"mark":"${CONTENT_MARK}"}`) },
  ];
}

/** Every needle found in `haystack`, by its label. */
function found(haystack: Buffer, needles: ReadonlyMap<string, Buffer>): string[] {
  return [...needles].filter(([, n]) => haystack.includes(n)).map(([label]) => label);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe("secrets never leave in the clear", () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server({ extraKeys: [{ accessKeyId: S3_KEY_ID, secretAccessKey: S3_SECRET }] });
  });
  afterAll(() => s3?.stop());

  it("no secret in output, cache or bucket; no name, size or hash of the source in the bucket", async () => {
    const base = await tempDir("secrets");
    const src = path.join(base, "src");
    await fs.mkdir(path.join(src, "sub-dir-name-3a7b"), { recursive: true });
    const files = sourceFiles();
    for (const f of files) await fs.writeFile(path.join(src, "sub-dir-name-3a7b", f.name), f.bytes);
    const passFile = path.join(base, "pass.txt");
    await fs.writeFile(passFile, `${PASSPHRASE}\n`);
    const url = s3.url("secrets");
    const env = childEnv(base, { ...s3.env, AWS_ACCESS_KEY_ID: S3_KEY_ID, AWS_SECRET_ACCESS_KEY: S3_SECRET, CLAWBACK_PASSPHRASE: PASSPHRASE });
    const cache = path.join(base, "cache");
    const runs: CliRun[] = [];
    const cli = async (args: string[], expectCode: number, extraEnv: NodeJS.ProcessEnv = {}) => {
      const run = await runCli([...args, "--repo", url, "--cache-dir", cache], { env: { ...env, ...extraEnv } });
      runs.push(run);
      expect(run.code, `clawback ${args.join(" ")}: ${run.stderr}`).toBe(expectCode);
      return run;
    };

    await cli(["init", "--debug", "--requests"], 0);
    await cli(["commit", src, "--debug", "--requests"], 0);
    await fs.appendFile(path.join(src, "sub-dir-name-3a7b", files[0]!.name), CONTENT_MARK);
    await cli(["commit", src, "--passphrase-file", passFile, "--json"], 0, { CLAWBACK_PASSPHRASE: undefined });
    await cli(["log", "--json"], 0);
    await cli(["ls", "latest", "--debug"], 0);
    await cli(["check", "--read-data", "--debug"], 0);
    await cli(["checkout", "latest", path.join(base, "restored"), "--debug"], 0);
    // Failures, each with --debug (stack traces on).
    await cli(["log", "--debug"], 3, { CLAWBACK_PASSPHRASE: WRONG_PASSPHRASE });
    await cli(["log", "--debug", "--requests"], 8, { AWS_SECRET_ACCESS_KEY: WRONG_S3_SECRET });
    await cli(["checkout", "latest", path.join(src, "sub-dir-name-3a7b", files[0]!.name), "--debug"], 10);
    await cli(["show", "not-a-snapshot", "--debug"], 5);

    const secrets = new Map<string, Buffer>([
      ["S3 secret", Buffer.from(S3_SECRET)],
      ["wrong S3 secret", Buffer.from(WRONG_S3_SECRET)],
      ["passphrase", Buffer.from(PASSPHRASE)],
      ["wrong passphrase", Buffer.from(WRONG_PASSPHRASE)],
    ]);
    const contents = new Map<string, Buffer>([["file content", Buffer.from(CONTENT_MARK)]]);
    const identifying = new Map<string, Buffer>([["folder name", Buffer.from("sub-dir-name-3a7b")]]);
    for (const f of files) {
      const digest = createHash("sha256").update(f.bytes).digest();
      identifying.set(`name of ${f.name}`, Buffer.from(f.name));
      identifying.set(`SHA-256 (hex) of ${f.name}`, Buffer.from(digest.toString("hex")));
      identifying.set(`SHA-256 (raw) of ${f.name}`, digest);
    }

    // The search finds what is there: the restored file holds the content mark in the clear.
    const restored = await fs.readFile(path.join(base, "restored", "sub-dir-name-3a7b", files[0]!.name));
    expect(found(restored, contents)).toEqual(["file content"]);

    // Command output.
    for (const r of runs) {
      expect(found(Buffer.from(r.stdout + r.stderr), secrets), `output of clawback ${r.args.join(" ")}`).toEqual([]);
    }

    // The index caches (and anything else the commands wrote under the cache folders).
    for (const file of await filesUnder(cache)) {
      const bytes = await fs.readFile(file);
      expect(found(bytes, new Map([...secrets, ...contents])), file).toEqual([]);
    }

    // The bucket: keys, sizes and raw bytes of every object.
    const backend = await openBackend(url, { env: { ...s3.env, AWS_ACCESS_KEY_ID: S3_KEY_ID, AWS_SECRET_ACCESS_KEY: S3_SECRET } });
    try {
      const sizes = new Set(files.map((f) => f.bytes.length));
      let objects = 0;
      for await (const obj of backend.list("")) {
        objects++;
        expect(found(Buffer.from(obj.key), identifying), `object key ${obj.key}`).toEqual([]);
        expect(sizes.has(obj.size), `object ${obj.key} is exactly as large as a source file (${obj.size})`).toBe(false);
        const bytes = Buffer.from(await backend.get(obj.key));
        expect(found(bytes, new Map([...secrets, ...contents, ...identifying])), `raw bytes of ${obj.key}`).toEqual([]);
      }
      expect(objects, "the bucket holds the repository").toBeGreaterThan(4);
    } finally {
      await backend.close();
    }
  });
});
