import { describe, expect, it } from "vitest";
import { ConfigError, UsageError } from "../../src/errors.ts";
import { LocalBackend } from "../../src/storage/local.ts";
import { openBackend, parseRemoteUrl } from "../../src/storage/open.ts";
import { RetryBackend } from "../../src/storage/retry.ts";
import { S3Backend } from "../../src/storage/s3.ts";

const creds = { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret-never-printed" };

describe("parseRemoteUrl", () => {
  it.each([
    ["s3://bucket", { scheme: "s3", bucket: "bucket", prefix: "" }],
    ["s3://bucket/", { scheme: "s3", bucket: "bucket", prefix: "" }],
    ["s3://bucket/a/b", { scheme: "s3", bucket: "bucket", prefix: "a/b/" }],
    ["b2://my-bucket//a//b//", { scheme: "b2", bucket: "my-bucket", prefix: "a/b/" }],
    ["B2://Bucket.With.Dots/x%20y", { scheme: "b2", bucket: "Bucket.With.Dots", prefix: "x y/" }],
  ])("%s", (url, want) => {
    expect(parseRemoteUrl(url)).toEqual(want);
  });

  it("refuses credentials in the URL without printing them", () => {
    let err: unknown;
    try {
      parseRemoteUrl("s3://KEY:hunter2@bucket/p");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain("hunter2");
  });

  it("refuses malformed URLs", () => {
    expect(() => parseRemoteUrl("s3://")).toThrow(UsageError);
    expect(() => parseRemoteUrl("s3://bucket/p?x=1")).toThrow(UsageError);
    expect(() => parseRemoteUrl("s3://bu cket/p")).toThrow(UsageError);
  });
});

describe("openBackend", () => {
  it("opens local folders from file:// URLs and plain paths", async () => {
    expect(await openBackend("file:///tmp/x")).toBeInstanceOf(LocalBackend);
    expect(await openBackend("relative/dir")).toBeInstanceOf(LocalBackend);
  });

  it("opens s3:// with settings from the environment, wrapped in retries", async () => {
    const b = await openBackend("s3://bkt/repo", { env: { ...creds, CLAWBACK_S3_ENDPOINT: "http://127.0.0.1:1", AWS_REGION: "eu-west-1" } });
    expect(b).toBeInstanceOf(RetryBackend);
    const inner = (b as RetryBackend).inner as S3Backend;
    expect(inner).toBeInstanceOf(S3Backend);
    expect(inner.region).toBe("eu-west-1");
    expect(inner.endpointLabel).toBe("http://127.0.0.1:1");
    expect(inner.prefix).toBe("repo/");
    expect(b.location).toBe("s3://bkt/repo/");
    await b.close();
  });

  it("options win over the environment; AWS's endpoint is the default; retry: false gives the bare backend", async () => {
    const b = await openBackend("s3://bkt", { env: { ...creds, AWS_REGION: "eu-west-1" }, region: "ap-south-1", retry: false });
    expect(b).toBeInstanceOf(S3Backend);
    expect((b as S3Backend).region).toBe("ap-south-1");
    expect((b as S3Backend).endpointLabel).toBe("https://s3.ap-south-1.amazonaws.com");
    await b.close();
  });

  it("names the missing setting", async () => {
    await expect(openBackend("s3://bkt", { env: {} })).rejects.toBeInstanceOf(ConfigError);
    await expect(openBackend("s3://bkt", { env: {} })).rejects.toThrow(/AWS_ACCESS_KEY_ID/);
    await expect(openBackend("s3://bkt", { env: { AWS_ACCESS_KEY_ID: "x" } })).rejects.toThrow(/AWS_SECRET_ACCESS_KEY/);
    await expect(openBackend("s3://bkt", { env: { ...creds, CLAWBACK_S3_ENDPOINT: "not a url" } })).rejects.toThrow(/CLAWBACK_S3_ENDPOINT/);
  });

  it("refuses unknown schemes", async () => {
    await expect(openBackend("ftp://user:pw@host/x")).rejects.toBeInstanceOf(UsageError);
    await expect(openBackend("ftp://user:pw@host/x")).rejects.not.toThrow(/pw/);
  });

  it("a host that does not exist fails without retries", async () => {
    const b = await openBackend("s3://bkt/x", { env: { ...creds, CLAWBACK_S3_ENDPOINT: "http://no-such-host.invalid" } });
    const started = Date.now();
    const err = (await b.head("config").catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/host not found/);
    expect(err.message).not.toContain("secret-never-printed");
    expect(Date.now() - started).toBeLessThan(5_000);
    await b.close();
  });
});
