// clawback against a real S3 server (the project's s3rver test server, in its own process) through
// a recording proxy, so each command's requests are counted as they go over the wire: requests by
// kind, bytes each way, B2's transaction classes, and which pack each GET read. The CLI's own
// `--requests` line is kept beside it as a cross-check.

import { startS3Server, type S3Server } from "../../test/helpers/s3-server.ts";
import { Clawback, type RunResult } from "./tools.ts";
import { packReads, startWireTap, type PackRead, summarize, type TapRecord, type WireSummary, type WireTap } from "./wiretap.ts";

/** What `clawback --requests` printed (counts only: its byte figures are rounded for people). */
export interface CliRequests {
  put: number;
  get: number;
  head: number;
  list: number;
  delete: number;
  classB: number;
}

export function parseRequestsLine(stderr: string): CliRequests | undefined {
  const m = /requests: (\d+) PUT, (\d+) GET, (\d+) HEAD, (\d+) LIST, (\d+) DELETE;.*B2 class A \d+, B (\d+), C \d+/.exec(stderr);
  if (!m) return undefined;
  const [put, get, head, list, del, classB] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { put, get, head, list, delete: del, classB };
}

export interface Counted {
  label: string;
  wallMs: number;
  wire: WireSummary;
  cli: CliRequests | undefined;
  /** Per pack id: GETs and bytes (for check --read-data). */
  packs: Map<string, PackRead>;
  result: RunResult;
}

export class CountedClawback {
  readonly tool: Clawback;
  private readonly server: S3Server;
  private readonly tap: WireTap;
  private constructor(server: S3Server, tap: WireTap, dir: string) {
    this.server = server;
    this.tap = tap;
    this.tool = new Clawback(dir, { url: server.url("bench"), env: { ...server.env, CLAWBACK_S3_ENDPOINT: tap.url } });
  }

  static async start(dir: string): Promise<CountedClawback> {
    const server = await startS3Server({ bucket: "bench" });
    const tap = await startWireTap(server.endpoint, server.bucket);
    const c = new CountedClawback(server, tap, dir);
    await c.tool.init();
    return c;
  }

  get cacheDir(): string {
    return this.tool.cache;
  }

  /** Runs one clawback command and counts what it asked of the store. */
  async counted(label: string, args: string[]): Promise<Counted> {
    const from = this.tap.records.length;
    const result = await this.tool.command(args);
    const records: TapRecord[] = this.tap.records.slice(from);
    return { label, wallMs: result.wallMs, wire: summarize(records), cli: parseRequestsLine(result.stderr), packs: packReads(records), result };
  }

  async stop(): Promise<void> {
    await this.tap.stop();
    await this.server.stop();
  }
}
