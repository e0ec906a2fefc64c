// A recording HTTP proxy between clawback's S3 backend and an S3 server: every request as it goes
// over the wire (method, key, range, status, bytes each way), so the bench counts what a store
// would bill, per object, independently of the client's own counters.
//
//   const tap = await startWireTap(s3.endpoint, s3.bucket);
//   const env = { ...s3.env, CLAWBACK_S3_ENDPOINT: tap.url };
//   const from = tap.records.length; /* run a command */ const seen = tap.records.slice(from);
//
// `latencyMs` makes the store as far away as a real one: half of it is waited before a request is
// forwarded, half before its answer is sent back (a round trip per request, as over the internet).

import * as http from "node:http";
import type { AddressInfo } from "node:net";

type RequestKind = "put" | "get" | "head" | "list" | "delete" | "other";

export interface TapRecord {
  kind: RequestKind;
  method: string;
  /** The object's key inside the bucket ("" for a bucket-level request such as a listing). */
  key: string;
  /** The Range header, if any ("bytes=a-b"). */
  range?: string;
  status: number;
  /** Bytes of the request body (an upload). */
  bytesUp: number;
  /** Bytes of the response body (a download, a listing's XML). */
  bytesDown: number;
}

export interface WireTap {
  url: string;
  records: TapRecord[];
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"]);

function classify(method: string, key: string, query: URLSearchParams): RequestKind {
  if (method === "PUT") return "put";
  if (method === "DELETE" || (method === "POST" && query.has("delete"))) return "delete";
  if (method === "HEAD") return "head";
  if (method === "GET") return key === "" ? "list" : "get";
  return "other";
}

export async function startWireTap(target: string, bucket: string, { latencyMs = 0 }: { latencyMs?: number } = {}): Promise<WireTap> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const records: TapRecord[] = [];
  const halfway = <T extends unknown[]>(fn: (...args: T) => void) => (latencyMs > 0 ? (...args: T) => void setTimeout(() => fn(...args), latencyMs / 2) : fn);
  const server = http.createServer(halfway((req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://tap");
    const parts = url.pathname.split("/").slice(1);
    const key = parts[0] === bucket ? decodeURIComponent(parts.slice(1).join("/")) : decodeURIComponent(url.pathname.slice(1));
    const method = req.method ?? "GET";
    const record: TapRecord = { kind: classify(method, key, url.searchParams), method, key, status: 0, bytesUp: 0, bytesDown: 0 };
    const range = req.headers.range;
    if (typeof range === "string") record.range = range;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const out = http.request({ host: upstream.hostname, port: upstream.port, method, path: req.url, headers, agent }, halfway((up: http.IncomingMessage) => {
      record.status = up.statusCode ?? 0;
      const back: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) back[k] = v;
      res.writeHead(record.status, back);
      up.on("data", (d: Buffer) => (record.bytesDown += d.byteLength));
      up.pipe(res);
      up.on("end", () => records.push(record));
    }));
    out.on("error", (err) => {
      record.status = 502;
      records.push(record);
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err));
    });
    req.on("data", (d: Buffer) => (record.bytesUp += d.byteLength));
    req.pipe(out);
  }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a slice of the tap's records adds up to: requests by kind, bytes, B2's transaction classes. */
export interface WireSummary {
  put: number;
  get: number;
  head: number;
  list: number;
  delete: number;
  other: number;
  bytesUp: number;
  bytesDown: number;
  /** Bytes of GETs of pack objects (keys under data/) alone. */
  packBytesDown: number;
  packGets: number;
  /** B2's classes: A uploads and deletes (free), B downloads and HEADs, C listings. */
  classA: number;
  classB: number;
  classC: number;
  /** Requests the server answered with an error (4xx/5xx; a HEAD of an absent object is a 404 too). */
  errors: number;
}

export function summarize(records: readonly TapRecord[]): WireSummary {
  const s: WireSummary = { put: 0, get: 0, head: 0, list: 0, delete: 0, other: 0, bytesUp: 0, bytesDown: 0, packBytesDown: 0, packGets: 0, classA: 0, classB: 0, classC: 0, errors: 0 };
  for (const r of records) {
    s[r.kind]++;
    s.bytesUp += r.bytesUp;
    s.bytesDown += r.bytesDown;
    if (r.kind === "get" && isPackKey(r.key)) {
      s.packGets++;
      s.packBytesDown += r.bytesDown;
    }
    if (r.status >= 400) s.errors++;
  }
  s.classA = s.put + s.delete;
  s.classB = s.get + s.head;
  s.classC = s.list;
  return s;
}

/** A pack's key: `<prefix>/data/<2 hex>/<pack id>`. */
function isPackKey(key: string): boolean {
  return /(^|\/)data\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(key);
}

export interface PackRead {
  gets: number;
  /** GETs without a Range header: the whole pack. */
  wholeGets: number;
  bytes: number;
  /** Distinct bytes of the pack downloaded (the union of the ranges read): bytes − unique were read twice. */
  unique: number;
}

/** Per pack (its id): GETs, bytes downloaded, and how many of them were distinct. */
export function packReads(records: readonly TapRecord[]): Map<string, PackRead> {
  const spans = new Map<string, [number, number][]>();
  const out = new Map<string, PackRead>();
  for (const r of records) {
    if (r.kind !== "get" || !isPackKey(r.key) || r.status >= 300) continue;
    const id = r.key.slice(r.key.lastIndexOf("/") + 1);
    const e = out.get(id) ?? { gets: 0, wholeGets: 0, bytes: 0, unique: 0 };
    e.gets++;
    e.bytes += r.bytesDown;
    const m = r.range === undefined ? null : /^bytes=(\d+)-/.exec(r.range);
    if (r.range === undefined) e.wholeGets++;
    const start = m ? Number(m[1]) : 0;
    const list = spans.get(id) ?? [];
    list.push([start, start + r.bytesDown]);
    spans.set(id, list);
    out.set(id, e);
  }
  for (const [id, list] of spans) {
    list.sort((a, b) => a[0] - b[0]);
    let unique = 0;
    let end = 0;
    for (const [a, b] of list) {
      if (b > end) unique += b - Math.max(a, end);
      end = Math.max(end, b);
    }
    out.get(id)!.unique = unique;
  }
  return out;
}
