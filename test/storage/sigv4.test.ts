import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { canonicalUri, sha256Hex, sign, uriEncode } from "../../src/storage/sigv4.ts";

const root = fileURLToPath(new URL("../fixtures/sigv4/", import.meta.url));

interface SuiteCase {
  name: string;
  dir: string;
  normalize: boolean;
}

function findCases(dir: string, normalize: boolean): SuiteCase[] {
  const out: SuiteCase[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    if (!statSync(full).isDirectory()) continue;
    if (readdirSync(full).some((f) => f === `${entry}.req`)) out.push({ name: entry, dir: full, normalize });
    else out.push(...findCases(full, normalize || entry === "normalize-path"));
  }
  return out;
}

/** Parses a suite `.req`: request line, header lines (continuations start with whitespace), body. */
function parseReq(text: string) {
  const blank = text.indexOf("\n\n");
  const head = blank >= 0 ? text.slice(0, blank) : text;
  const body = blank >= 0 ? text.slice(blank + 2) : "";
  const [requestLine, ...headerLines] = head.split("\n");
  const method = requestLine!.slice(0, requestLine!.indexOf(" "));
  const target = requestLine!.slice(method.length + 1, requestLine!.lastIndexOf(" "));
  const q = target.indexOf("?");
  const rawPath = q >= 0 ? target.slice(0, q) : target;
  const rawQuery = q >= 0 ? target.slice(q + 1) : "";
  const query: [string, string][] = rawQuery
    ? rawQuery.split("&").map((part) => {
        const eq = part.indexOf("=");
        return eq >= 0 ? [decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1))] : [decodeURIComponent(part), ""];
      })
    : [];
  const headers: [string, string][] = [];
  let lastName = "";
  for (const line of headerLines) {
    if (/^\s/.test(line)) {
      headers.push([lastName, line]);
      continue;
    }
    const colon = line.indexOf(":");
    lastName = line.slice(0, colon);
    headers.push([lastName, line.slice(colon + 1)]);
  }
  return { method, path: rawPath, query, headers, body };
}

const suite = findCases(root, false);
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };

describe("SigV4: AWS test suite", () => {
  it("has all 31 cases", () => {
    expect(suite).toHaveLength(31);
  });

  for (const c of suite) {
    it(c.name, () => {
      const read = (ext: string) => readFileSync(path.join(c.dir, `${c.name}.${ext}`), "utf8");
      const req = parseReq(read("req"));
      const amzDate = req.headers.find(([n]) => n.toLowerCase() === "x-amz-date")![1];
      const sig = sign(
        { method: req.method, path: req.path, query: req.query, headers: req.headers, payloadHash: sha256Hex(req.body) },
        { credentials, region: "us-east-1", service: "service", amzDate, normalizePath: c.normalize },
      );
      expect(sig.canonicalRequest).toBe(read("creq"));
      expect(sig.stringToSign).toBe(read("sts"));
      expect(sig.authorization).toBe(read("authz"));
      expect(read("sreq")).toContain(sig.authorization);
    });
  }
});

interface S3Example {
  name: string;
  method: string;
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  payload: string;
  payloadSha256: string;
  expected: { canonicalRequest: string; stringToSign: string; signature: string; authorization: string; signedHeaders: string };
}

describe("SigV4: S3 single-chunk examples", () => {
  const doc = JSON.parse(readFileSync(path.join(root, "s3-examples.json"), "utf8")) as {
    accessKeyId: string;
    secretAccessKey: string;
    region: string;
    service: string;
    amzDate: string;
    cases: S3Example[];
  };
  it("has the 4 documented examples", () => expect(doc.cases).toHaveLength(4));
  for (const c of doc.cases) {
    it(c.name, () => {
      expect(sha256Hex(c.payload)).toBe(c.payloadSha256);
      const sig = sign(
        { method: c.method, path: c.path, query: c.query, headers: Object.entries(c.headers), payloadHash: c.payloadSha256 },
        { credentials: { accessKeyId: doc.accessKeyId, secretAccessKey: doc.secretAccessKey }, region: doc.region, service: doc.service, amzDate: doc.amzDate },
      );
      expect(sig.canonicalRequest).toBe(c.expected.canonicalRequest);
      expect(sig.stringToSign).toBe(c.expected.stringToSign);
      expect(sig.signedHeaders).toBe(c.expected.signedHeaders);
      expect(sig.signature).toBe(c.expected.signature);
      expect(sig.authorization).toBe(c.expected.authorization);
    });
  }
});

describe("SigV4: S3 key encoding", () => {
  it("encodes every byte outside the unreserved set once, keeps '/', never normalises", () => {
    expect(uriEncode("a b+c#d?e%f~g", true)).toBe("a%20b%2Bc%23d%3Fe%25f~g");
    expect(canonicalUri("/bucket/dir//./x/../é")).toBe("/bucket/dir//./x/../%C3%A9");
    expect(canonicalUri("/b/😀")).toBe("/b/%F0%9F%98%80");
    expect(uriEncode("!'()*")).toBe("%21%27%28%29%2A");
  });
});
