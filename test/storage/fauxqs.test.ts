// The second S3 server, fauxqs (in process, on 127.0.0.1), covers what s3rver cannot:
// virtual-hosted addressing (s3rver signs it wrongly) and listings of keys with XML characters
// (s3rver escapes them twice). fauxqs checks no signatures, so signing is tested on s3rver.

import type { AddressInfo } from "node:net";
import { buildApp, interceptLocalhostDns } from "fauxqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Backend } from "../../src/storage/s3.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { describeBackendConformance } from "./conformance.ts";

const BUCKET = "vhost-bucket";
let app: ReturnType<typeof buildApp>;
let port = 0;
let restoreDns: () => void;
let proxy: FaultProxy;

beforeAll(async () => {
  // bucket.s3.localhost must resolve to 127.0.0.1 for virtual-hosted requests.
  restoreDns = interceptLocalhostDns();
  app = buildApp({ logger: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
  const res = await fetch(`http://127.0.0.1:${port}/${BUCKET}`, { method: "PUT" });
  expect(res.status).toBeLessThan(300);
  proxy = await startFaultProxy({ target: `http://127.0.0.1:${port}` });
});
afterAll(async () => {
  await proxy?.stop();
  await app?.close();
  restoreDns?.();
});

function open(prefix: string, endpoint = `http://s3.localhost:${port}`): S3Backend {
  return new S3Backend({
    endpoint,
    region: "us-east-1",
    bucket: BUCKET,
    prefix,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    pathStyle: false,
  });
}

describeBackendConformance("S3 (fauxqs, virtual-hosted)", async (prefix) => open(prefix));

describe("virtual-hosted addressing", () => {
  it("puts the bucket in the Host header and only the key in the path", async () => {
    const viaProxy = open("vh", `http://s3.localhost:${new URL(proxy.url).port}`);
    const start = proxy.log.length;
    await viaProxy.put("dir/a b+c", new Uint8Array([1, 2]));
    await viaProxy.get("dir/a b+c");
    expect(proxy.log.slice(start).map((r) => `${r.method} ${r.path}`)).toEqual(["PUT /vh/dir/a%20b%2Bc", "GET /vh/dir/a%20b%2Bc"]);
    expect(proxy.counts.signed).toBe(proxy.counts.requests);
    await viaProxy.close();
  });
});
