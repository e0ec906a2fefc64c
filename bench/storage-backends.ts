// Storage-backend bench: raw Backend throughput for 16 MiB packs, the local folder against S3 over
// loopback (s3rver in a child process), optionally through the fault proxy; plus request counts and
// what they cost as B2 transaction classes. This measures the storage layer alone; commit/checkout
// over each backend belongs to the engine benches.
//
//   node bench/storage-backends.ts [--mb 256] [--pack-mb 16] [--concurrency 4] [--faults 0.2]

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Backend } from "../src/storage/backend.ts";
import { b2TransactionClasses } from "../src/storage/backend.ts";
import { deleteMany } from "../src/storage/delete.ts";
import { openBackend } from "../src/storage/open.ts";
import { RetryBackend } from "../src/storage/retry.ts";
import { startFaultProxy } from "../test/helpers/fault-proxy.ts";
import { startS3Server } from "../test/helpers/s3-server.ts";
import { arg } from "./lib/args.ts";

const totalMb = Number(arg("mb", "256"));
const packMb = Number(arg("pack-mb", "16"));
const concurrency = Number(arg("concurrency", "4"));
const faultRate = Number(arg("faults", "0"));

const packs = Math.max(1, Math.round(totalMb / packMb));
const bodies = Array.from({ length: packs }, () => randomBytes(packMb * 1024 * 1024));
const mb = (packs * packMb * 1024 * 1024) / 1e6;

async function run(name: string, backend: Backend) {
  const keys = bodies.map((_, i) => `data/${(i % 256).toString(16).padStart(2, "0")}/pack-${i}`);
  let t = performance.now();
  const queue = [...keys.keys()];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await backend.put(keys[i]!, bodies[i]!);
    }),
  );
  const putS = (performance.now() - t) / 1000;
  t = performance.now();
  const listed: string[] = [];
  for await (const o of backend.list("data/")) listed.push(o.key);
  const listS = (performance.now() - t) / 1000;
  t = performance.now();
  const readQueue = [...keys.keys()];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = readQueue.shift(); i !== undefined; i = readQueue.shift()) {
        const got = await backend.get(keys[i]!);
        if (got.byteLength !== bodies[i]!.byteLength) throw new Error(`short read of ${keys[i]}`);
      }
    }),
  );
  const getS = (performance.now() - t) / 1000;
  await deleteMany(backend, keys);
  const counts = backend.counts();
  const retries = backend instanceof RetryBackend ? backend.retryStats().retries : 0;
  await backend.close();
  return {
    backend: name,
    "put MB/s": +(mb / putS).toFixed(1),
    "get MB/s": +(mb / getS).toFixed(1),
    "list ms": Math.round(listS * 1000),
    listed: listed.length,
    requests: `PUT ${counts.put} GET ${counts.get} HEAD ${counts.head} LIST ${counts.list} DEL ${counts.delete}`,
    "B2 A/B/C": Object.values(b2TransactionClasses(counts)).join("/"),
    retries,
  };
}

const rows = [];
const dir = await mkdtemp(path.join(tmpdir(), "clawback-bench-local-"));
rows.push(await run("local folder", await openBackend(dir)));
await rm(dir, { recursive: true, force: true });

const s3 = await startS3Server();
try {
  rows.push(await run("S3 (s3rver, loopback)", await openBackend(s3.url("bench"), { env: s3.env, concurrency })));
  if (faultRate > 0) {
    const proxy = await startFaultProxy({ target: s3.endpoint, rate: faultRate, faults: ["503", "500", "reset", "truncate"], seed: 1 });
    try {
      rows.push(
        await run(
          `S3 via fault proxy (${Math.round(faultRate * 100)}%)`,
          await openBackend(s3.url("bench-faults"), { env: { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url }, concurrency, retry: { baseDelayMs: 20, maxDelayMs: 500 } }),
        ),
      );
    } finally {
      await proxy.stop();
    }
  }
} finally {
  await s3.stop();
}
const ratio = rows[1] ? { "S3/local put": +(rows[1]["put MB/s"] / rows[0]!["put MB/s"]).toFixed(2), "S3/local get": +(rows[1]["get MB/s"] / rows[0]!["get MB/s"]).toFixed(2) } : {};
console.log(`${packs} packs of ${packMb} MiB (${mb.toFixed(0)} MB), concurrency ${concurrency}`);
console.table(rows);
console.log(ratio);
