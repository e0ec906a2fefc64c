// A daily commit to an S3 store at a distance (issue 17): what a user on Backblaze B2 waits for is
// not only CPU but one round trip per request, and a daily commit reads its changed page groups'
// bases in a few hundred range requests. The local timings of speed.ts cannot show that. Then the
// restore a new machine makes of that day (an empty index cache, as the plugin's auto-restore).
//
//   node bench/remote-daily.ts [--size 500MB] [--latency-ms 0,25,50,100] [--history 1] [--work /tmp/clawback-remote-daily]
//
// For each latency: a fresh copy of one generated state, committed into a fresh repository on the
// project's S3 test server (s3rver, loopback) directly, `--history` days of it; then `gen day` on
// the copy, and the daily commit timed through the recording proxy holding every request for the
// latency (half each way), then a checkout of it by a machine with an empty cache through the
// same proxy. Prints both wall times, their requests and the checkout's peak memory. The loopback
// has no bandwidth limit: a real link adds the transfer time (a checkout's is most of it).
// clawback only: restic 0.14 cannot open a repository on s3rver (bench/README.md), and borg has
// no S3 backend.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startS3Server } from "../test/helpers/s3-server.ts";
import { arg, parseSize } from "./lib/args.ts";
import { fmtBytes } from "./lib/fsutil.ts";
import { generateInit, simulateDay } from "./gen/index.ts";
import { parseRequestsLine } from "./lib/requests.ts";
import { Clawback, freezeClawback } from "./lib/tools.ts";
import { startWireTap, summarize } from "./lib/wiretap.ts";

const sizeBytes = parseSize(arg("size", "500MB"));
const latencies = arg("latency-ms", "0,25,50,100").split(",").map(Number);
const work = arg("work", "/tmp/clawback-remote-daily");
/** Commits before the day timed (the first included): a new machine loads one manifest and record for each. */
const history = Number(arg("history", "1"));

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const version = freezeClawback(join(work, "clawback-frozen"));
const base = join(work, "base");
await generateInit(base, { sizeBytes, dailySizeBytes: parseSize("500MB"), seed: "clawback" });
console.log(`${fmtBytes(sizeBytes)} state, ${version}`);

const server = await startS3Server({ bucket: "remote" });
const rows: string[] = [];
try {
  for (const latencyMs of latencies) {
    const dir = join(work, `latency-${latencyMs}`);
    const state = join(dir, "state");
    cpSync(base, state, { recursive: true, preserveTimestamps: true });
    const direct = await startWireTap(server.endpoint, server.bucket);
    const far = await startWireTap(server.endpoint, server.bucket, { latencyMs });
    try {
      const url = server.url(`latency-${latencyMs}`);
      const near = new Clawback(dir, { url, env: { ...server.env, CLAWBACK_S3_ENDPOINT: direct.url } });
      await near.init();
      await near.backup(state);
      for (let day = 1; day < history; day++) {
        await simulateDay(state);
        await near.backup(state);
      }
      await simulateDay(state);
      const from = far.records.length;
      const farEnv = { ...server.env, CLAWBACK_S3_ENDPOINT: far.url };
      const daily = await new Clawback(dir, { url, env: farEnv }).command(["commit", state]);
      const wire = summarize(far.records.slice(from));
      const cli = parseRequestsLine(daily.stderr);
      // Then a new machine (an empty index cache) restores the day from the same distance.
      const fresh = join(dir, "new-machine");
      const restoredAt = far.records.length;
      const restore = await new Clawback(fresh, { url, env: farEnv }).command(["checkout", "latest", join(fresh, "state")]);
      const restoreWire = summarize(far.records.slice(restoredAt));
      rows.push(`| ${latencyMs} ms | ${(daily.wallMs / 1000).toFixed(2)} s | ${wire.get} | ${wire.put} | ${wire.head + wire.list + wire.delete} | ${fmtBytes(wire.bytesDown)} | ${cli?.classB ?? "n/a"} | ${(restore.wallMs / 1000).toFixed(2)} s | ${fmtBytes(restore.peakRss)} | ${restoreWire.get} | ${fmtBytes(restoreWire.bytesDown)} |`);
      console.log(rows.at(-1));
    } finally {
      await direct.stop();
      await far.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  await server.stop();
}
console.log(`\n## Daily commit, and a new machine's checkout, over S3 at a distance: ${fmtBytes(sizeBytes)} state, ${history} commit(s) before, ${version}\n`);
console.log("| round trip per request | daily commit | GET | PUT | other requests | down | B2 class B (CLI) | checkout, empty cache | its peak RSS | GET | down |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) console.log(r);
