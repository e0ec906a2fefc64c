// A fault-injecting HTTP proxy on loopback, between a client and an S3 (or any HTTP) server.
//
//   const proxy = await startFaultProxy({ target: s3.endpoint, rate: 0.2, seed: 7 });
//   const env = { ...s3.env, CLAWBACK_S3_ENDPOINT: proxy.url };   // the client talks to the proxy
//   ...
//   proxy.counts.faults.reset; proxy.counts.unsigned; await proxy.stop();
//
// It forwards each request unchanged (Host header included, so SigV4 signatures stay valid) and,
// for a chosen share of requests, injects one fault:
//
//   "503"       answers 503 SlowDown with Retry-After (retryAfterSeconds) without forwarding
//   "500"       answers 500 InternalError without forwarding
//   "reset"     forwards (the server acts on it), then sends half of the answer and resets the
//               connection (TCP RST); with an empty answer, resets before answering
//   "truncate"  forwards, sends the headers (full Content-Length) and half of the body, then closes
//               the connection cleanly; with an empty answer, closes without answering
//   "slow"      waits slowMs before forwarding (for client timeouts)
//
// Which requests get a fault is decided by a seeded generator in arrival order, so a run is
// repeatable for a given sequence of requests. `inject(...kinds)` forces faults on the next
// requests regardless of the rate. `counts` tallies requests, faults by kind, and requests that
// arrived with and without an AWS4-HMAC-SHA256 Authorization header.

import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { prng } from "./prng.ts";

export type FaultKind = "503" | "500" | "reset" | "truncate" | "slow";

export const ALL_FAULTS: readonly FaultKind[] = ["503", "500", "reset", "truncate", "slow"];

export interface FaultProxyOptions {
  /** Upstream server, e.g. http://127.0.0.1:4568. */
  target: string;
  /** Share of requests that get a fault, 0..1 (default 0). */
  rate?: number;
  /** Faults to draw from (default: all five). */
  faults?: readonly FaultKind[];
  /** Seed of the generator that picks requests and faults (default 1). */
  seed?: number;
  /** Retry-After value sent with 503, in seconds (default 0). */
  retryAfterSeconds?: number;
  /** Delay of a "slow" fault, in ms (default 2,000). */
  slowMs?: number;
}

export interface FaultProxyCounts {
  requests: number;
  /** Requests passed upstream (including those faulted after forwarding). */
  forwarded: number;
  /** Requests carrying an AWS4-HMAC-SHA256 Authorization header. */
  signed: number;
  unsigned: number;
  faults: Record<FaultKind, number>;
}

export interface FaultProxy {
  /** http://127.0.0.1:<port>: use it as the client's endpoint. */
  url: string;
  counts: FaultProxyCounts;
  /** Every request seen: method, path, and the fault injected (if any). */
  log: Array<{ method: string; path: string; fault?: FaultKind }>;
  /** Changes the fault rate (and optionally the kinds) from now on. */
  setRate(rate: number, faults?: readonly FaultKind[]): void;
  /** Forces these faults on the next requests, in order, whatever the rate. */
  inject(...kinds: FaultKind[]): void;
  stop(): Promise<void>;
}


const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"]);

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  let rate = options.rate ?? 0;
  let kinds: readonly FaultKind[] = options.faults ?? ALL_FAULTS;
  const random = prng(options.seed ?? 1);
  const forced: FaultKind[] = [];
  const counts: FaultProxyCounts = { requests: 0, forwarded: 0, signed: 0, unsigned: 0, faults: { "503": 0, "500": 0, reset: 0, truncate: 0, slow: 0 } };
  const log: FaultProxy["log"] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();

  const pick = (): FaultKind | undefined => {
    if (forced.length) return forced.shift();
    const r = random();
    const k = random();
    if (r >= rate || kinds.length === 0) return undefined;
    return kinds[Math.floor(k * kinds.length)];
  };

  const readBody = (req: http.IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
    });

  const forward = (req: http.IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      counts.forwarded++;
      const up = http.request(
        {
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      up.on("error", reject);
      up.end(body);
    });

  const server = http.createServer(async (req, res) => {
    counts.requests++;
    if (/^AWS4-HMAC-SHA256 /.test(req.headers.authorization ?? "")) counts.signed++;
    else counts.unsigned++;
    const fault = pick();
    if (fault) counts.faults[fault]++;
    log.push({ method: req.method ?? "", path: req.url ?? "", ...(fault ? { fault } : {}) });
    try {
      const body = await readBody(req);
      if (fault === "503" || fault === "500") {
        const xml = fault === "503" ? errorXml("SlowDown", "Please reduce your request rate.") : errorXml("InternalError", "We encountered an internal error. Please try again.");
        res.writeHead(fault === "503" ? 503 : 500, {
          "content-type": "application/xml",
          "content-length": Buffer.byteLength(xml),
          ...(fault === "503" ? { "retry-after": String(options.retryAfterSeconds ?? 0) } : {}),
        });
        res.end(req.method === "HEAD" ? undefined : xml);
        return;
      }
      if (fault === "slow") await new Promise((r) => setTimeout(r, options.slowMs ?? 2_000));
      if (res.destroyed) return;
      const up = await forward(req, body);
      if (res.destroyed) return;
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      if (req.method !== "HEAD") headers["content-length"] = String(up.body.length);
      const socket = res.socket;
      if ((fault === "reset" || fault === "truncate") && (up.body.length === 0 || req.method === "HEAD")) {
        if (fault === "reset") socket?.resetAndDestroy();
        else socket?.destroy();
        return;
      }
      if (fault === "reset" || fault === "truncate") {
        res.writeHead(up.status, headers);
        res.write(up.body.subarray(0, Math.floor(up.body.length / 2)), () => {
          if (fault === "reset") socket?.resetAndDestroy();
          else socket?.end();
        });
        return;
      }
      res.writeHead(up.status, headers);
      res.end(req.method === "HEAD" ? undefined : up.body);
    } catch (err) {
      if (!res.headersSent && !res.destroyed) {
        const xml = errorXml("ProxyError", (err as Error).message);
        res.writeHead(502, { "content-type": "application/xml", "content-length": Buffer.byteLength(xml) });
        res.end(xml);
      } else {
        res.destroy();
      }
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    log,
    setRate(r, f) {
      rate = r;
      if (f) kinds = f;
    },
    inject(...k) {
      forced.push(...k);
    },
    async stop() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
