// A small HTTP client on node:http / node:https for the S3 and B2 backends: keep-alive agents, an
// idle timeout and an overall deadline per request, and a response body that is checked against
// its Content-Length (a connection that ends early is reported, never returned as data).
//
// Failures come back as HttpFailure with a `kind` the caller maps to its own error classes; the
// transport itself never retries.

import * as http from "node:http";
import * as https from "node:https";
import type { Readable } from "node:stream";

export type HttpFailureKind = "reset" | "timeout" | "truncated" | "refused" | "dns" | "tls" | "source" | "other";

export class HttpFailure extends Error {
  readonly kind: HttpFailureKind;
  readonly transient: boolean;
  constructor(kind: HttpFailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HttpFailure";
    this.kind = kind;
    // A host that does not resolve at all (ENOTFOUND), a broken certificate or a request body that
    // cannot be read here will not heal by itself within a retry budget; everything else here might.
    this.transient = kind !== "dns" && kind !== "tls" && kind !== "source";
  }
}

export interface HttpRequest {
  method: string;
  /** Protocol, host and port (and, unless `path` is given, the request target). */
  url: URL;
  /** The request target (path and query) sent verbatim; defaults to the URL's. */
  path?: string;
  /** Sent as given (the Host header included, so that it matches what was signed). */
  headers: Record<string, string>;
  body?: Uint8Array | StreamedBody;
  agent?: http.Agent;
  /** Abort when the socket is silent this long (ms). */
  idleTimeoutMs?: number;
  /** Abort when the whole exchange takes longer than this (ms). */
  requestTimeoutMs?: number;
}

/** A request body read from a stream as it is sent (a pack file), opened anew by every attempt. */
export interface StreamedBody {
  readonly byteLength: number;
  /** The SHA-256 of its bytes, hex: what SigV4 signs as the payload hash. */
  readonly sha256: string;
  open(): Readable;
}

export function isStreamed(body: Uint8Array | StreamedBody): body is StreamedBody {
  return !(body instanceof Uint8Array);
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function createAgent(protocol: string, maxSockets: number): http.Agent {
  const options = { keepAlive: true, maxSockets, keepAliveMsecs: 1000 };
  return protocol === "https:" ? new https.Agent(options) : new http.Agent(options);
}

function classify(err: NodeJS.ErrnoException): HttpFailure {
  if (err instanceof HttpFailure) return err;
  const code = err.code ?? "";
  const text = `${code ? `${code}: ` : ""}${err.message}`;
  if (code === "ENOTFOUND") return new HttpFailure("dns", `host not found (${text})`, { cause: err });
  if (code === "EAI_AGAIN") return new HttpFailure("reset", `name lookup failed (${text})`, { cause: err });
  if (code === "ECONNREFUSED") return new HttpFailure("refused", `connection refused (${text})`, { cause: err });
  if (code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT") return new HttpFailure("timeout", `timed out (${text})`, { cause: err });
  if (code.startsWith("ERR_TLS") || code.includes("CERT")) return new HttpFailure("tls", `TLS failure (${text})`, { cause: err });
  if (["ECONNRESET", "EPIPE", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "EHOSTDOWN"].includes(code) || /socket hang up|aborted/i.test(err.message)) {
    return new HttpFailure("reset", `connection lost (${text})`, { cause: err });
  }
  return new HttpFailure("other", text, { cause: err });
}

/** Performs one HTTP exchange and reads the whole response body. */
export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const mod = req.url.protocol === "https:" ? https : http;
    let settled = false;
    let deadline: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      if (deadline) clearTimeout(deadline);
      if (err) reject(err);
      else resolve(res!);
    };
    // Set once the response head arrives, so a connection that dies later is reported as a
    // truncated body rather than a missing response.
    let response: { res: http.IncomingMessage; received: () => number; expected: number | undefined } | undefined;
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined || req.method === "PUT" || req.method === "POST") {
      headers["content-length"] = String(req.body?.byteLength ?? 0);
    }
    const request = mod.request(
      {
        method: req.method,
        protocol: req.url.protocol,
        hostname: req.url.hostname.replace(/^\[|\]$/g, ""),
        port: req.url.port || undefined,
        path: req.path ?? `${req.url.pathname}${req.url.search}`,
        headers,
        agent: req.agent,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const declared = res.headers["content-length"];
        const expected = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
        const noBody = req.method === "HEAD" || status === 204 || status === 304;
        // Preallocate when the size is known, so a 16 MiB pack is one buffer, not chunks + concat.
        let buffer: Buffer | undefined = !noBody && expected !== undefined ? Buffer.allocUnsafe(expected) : undefined;
        const chunks: Buffer[] = [];
        let received = 0;
        response = { res, received: () => received, expected: noBody ? undefined : expected };
        res.on("data", (chunk: Buffer) => {
          if (buffer) {
            if (received + chunk.length > buffer.length) {
              request.destroy(new HttpFailure("truncated", `response body longer than its Content-Length (${expected} bytes)`));
              return;
            }
            chunk.copy(buffer, received);
          } else {
            chunks.push(chunk);
          }
          received += chunk.length;
        });
        res.on("error", (err) => {
          const failure = classify(err);
          finish(
            expected !== undefined && !noBody
              ? new HttpFailure("truncated", `connection lost after ${received} of ${expected} response bytes (${failure.message})`, { cause: err })
              : failure,
          );
        });
        res.on("end", () => {
          if (!res.complete) {
            finish(new HttpFailure("truncated", `response ended after ${received}${expected !== undefined ? ` of ${expected}` : ""} bytes`));
            return;
          }
          if (!noBody && expected !== undefined && received !== expected) {
            finish(new HttpFailure("truncated", `response body has ${received} bytes, Content-Length says ${expected}`));
            return;
          }
          if (!buffer) buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          finish(undefined, { status, headers: res.headers, body: noBody ? Buffer.alloc(0) : buffer });
        });
      },
    );
    if (req.idleTimeoutMs) {
      request.setTimeout(req.idleTimeoutMs, () => {
        request.destroy(new HttpFailure("timeout", `no progress for ${req.idleTimeoutMs} ms`));
      });
    }
    if (req.requestTimeoutMs) {
      deadline = setTimeout(() => {
        request.destroy(new HttpFailure("timeout", `request took longer than ${req.requestTimeoutMs} ms`));
      }, req.requestTimeoutMs);
    }
    request.on("error", (err) => finish(classify(err)));
    request.on("close", () => {
      if (!response) return finish(new HttpFailure("reset", "connection closed before a response"));
      // A complete message still delivers "end"; anything else was cut off.
      if (response.res.complete) return;
      const { received, expected } = response;
      finish(new HttpFailure("truncated", `connection closed after ${received()}${expected !== undefined ? ` of ${expected}` : ""} response bytes`));
    });
    const body = req.body;
    if (body === undefined || !isStreamed(body)) {
      request.end(body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      return;
    }
    const source = body.open();
    source.on("error", (err) => request.destroy(new HttpFailure("source", `reading the request body failed: ${err.message}`, { cause: err })));
    source.pipe(request);
  });
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
