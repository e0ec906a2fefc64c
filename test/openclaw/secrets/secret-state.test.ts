import { describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { AGENT_SECRET_TABLES, GLOBAL_SECRET_TABLES, SECRET_MACHINE_STATE_KEY_PREFIXES } from "../../../src/openclaw/secrets/secret-state.ts";
import { REDACTED, redactConfig, redactConfigValue } from "../../../src/openclaw/secrets/config-secrets.ts";
import { OPENCLAW_DIST, openclawFunction } from "./openclaw-state.ts";

// The secret lists and rules are copies of the installed OpenClaw's (its plugin SDK exports
// neither): these tests notice an OpenClaw upgrade that changes them.

/** The string arrays of OpenClaw's src/state/secret-state-tables.ts, as bundled in its dist. */
async function openclawSecretLists(): Promise<Record<string, string[]>> {
  for (const name of await fs.readdir(OPENCLAW_DIST)) {
    if (!name.endsWith(".mjs")) continue;
    const text = await fs.readFile(path.join(OPENCLAW_DIST, name), "utf8");
    const at = text.indexOf("//#region src/state/secret-state-tables.ts");
    if (at < 0) continue;
    const region = text.slice(at, text.indexOf("//#endregion", at));
    const lists: Record<string, string[]> = {};
    for (const m of region.matchAll(/const (\w+) = \[([^\]]*)\]/g)) lists[m[1]!] = [...m[2]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]!);
    return lists;
  }
  throw new Error("src/state/secret-state-tables.ts not found in the installed OpenClaw");
}

describe("the secret lists match the installed OpenClaw", () => {
  it("tables and machine-state key prefixes", async () => {
    const lists = await openclawSecretLists();
    expect([...GLOBAL_SECRET_TABLES].sort()).toEqual([...lists.STATE_SECRET_TABLE_NAMES!].sort());
    expect([...SECRET_MACHINE_STATE_KEY_PREFIXES].sort()).toEqual([...lists.STATE_SECRET_CONFIG_STATE_KEY_PREFIXES!].sort());
    expect([...AGENT_SECRET_TABLES].sort()).toEqual([...lists.AGENT_SECRET_TABLE_NAMES!].sort());
  });

  it("every config value OpenClaw's own redaction hides is hidden by redactConfig, and only secrets are", async () => {
    type Json = Parameters<typeof redactConfigValue>[0];
    const redactConfigObject = await openclawFunction<(value: unknown) => unknown>("redactConfigObject");
    const config = {
      gateway: { mode: "local", auth: { mode: "token", token: "tok-1", password: "pw-2" }, remote: { token: "tok-3" } },
      models: { providers: { mock: { baseUrl: "https://user:pass@example.com/v1?api_key=k-4", apiKey: "sk-5", headers: { Authorization: "Bearer 6" }, models: [{ id: "m", maxTokens: 10, contextWindow: 5 }] } } },
      channels: { telegram: { botToken: "123:7", webhookSecret: "s-8" }, slack: { appToken: "xapp-9", signingSecret: "s-10" } },
      env: { vars: { OPENAI_API_KEY: "sk-11", PLAIN: "not secret" } },
      mcp: { servers: { x: { url: "https://example.com/mcp?token=t-12" } } },
      tools: { web: { search: { apiKey: "k-13" } } },
      plugins: { entries: { clawback: { config: { keyId: "k", applicationKey: "K-14", bucket: "b", passphrase: "P-15" } } } },
      agents: { defaults: { model: { primary: "mock/m" } } },
    };
    const theirs = JSON.stringify(redactConfigObject(config));
    const found: string[] = [];
    const ours = JSON.stringify(redactConfigValue(config as unknown as Json, found));
    for (const value of ["tok-1", "pw-2", "tok-3", "sk-5", "123:7", "s-8", "xapp-9", "s-10", "sk-11", "t-12", "k-13"]) {
      if (!theirs.includes(value)) expect(ours, value).not.toContain(value);
    }
    // This plugin's own credentials, which OpenClaw's patterns do not name.
    for (const value of ["K-14", "P-15"]) expect(ours).not.toContain(value);
    for (const value of ["not secret", "mock/m", "\"maxTokens\":10", "\"keyId\":\"k\""]) expect(ours).toContain(value);
    const text = `${JSON.stringify(config, null, 2)}\n`;
    const redacted = redactConfig(text);
    expect(JSON.parse(redacted)).toEqual(JSON.parse(ours));
    expect(redacted).toContain(REDACTED);
  });

  it("a config with comments (JSON5) keeps its layout; one that does not parse is withheld", () => {
    const text = `{\n  // the gateway\n  gateway: { auth: { token: "tok-secret-1" } },\n}\n`;
    expect(redactConfig(text)).toBe(`{\n  // the gateway\n  gateway: { auth: { token: "${REDACTED}" } },\n}\n`);
    const broken = `{ "gateway": { "auth": { "token": "tok-secret-2" } `;
    expect(redactConfig(broken)).not.toContain("tok-secret-2");
  });
});
