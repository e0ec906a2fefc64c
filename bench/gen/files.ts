// Everything that is not a database or the workspace: openclaw.json, credentials/, .env, media/,
// extensions/ and npm/ (installed plugins), agents/<id>/agent/models.json, tmp/ and cache/.

import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Rng } from "../lib/rng.ts";
import { DAY_MS, writeAt } from "./plan.ts";
import { code, isoTime, markdown, sentence, word, words } from "./text.ts";
import { listFiles } from "./workspace.ts";

export function configJson(rng: Rng, agents: string[], now: number, revision: number): string {
  const cfg = {
    meta: { lastTouchedVersion: "2026.9.6", lastTouchedAt: isoTime(now) },
    gateway: { mode: "local", bind: "loopback", port: 18789, auth: { mode: "token", token: rng.fork("gw-token").hex(48) } },
    agents: {
      defaults: { model: { primary: "anthropic/claude-opus-4-6", fallbacks: ["openai/gpt-5.2"] }, workspace: "~/.openclaw/workspace", heartbeat: { every: `${30 + (revision % 4) * 15}m` }, compaction: { mode: "safeguard" }, memorySearch: { provider: "local", model: "embeddinggemma-300m" } },
      list: agents.map((id) => ({ id, name: id === "main" ? "Claw" : id, ...(id === "main" ? { default: true } : { workspace: `~/.openclaw/workspace-${id}` }) })),
    },
    channels: {
      telegram: { enabled: true, dmPolicy: "pairing", botToken: { source: "secret-store", id: "TELEGRAM_BOT_TOKEN" }, allowFrom: [String(rng.fork("tg").range(1e8, 9e8))] },
      whatsapp: { enabled: true, dmPolicy: "allowlist", allowFrom: ["+15550001111"] },
      discord: { enabled: revision % 3 !== 2, guilds: { [rng.fork("dc").hex(18)]: { requireMention: true } } },
    },
    tools: { profile: "full", web: { search: { provider: "brave" } } },
    plugins: { entries: { "voice-call": { enabled: revision % 2 === 0 }, "memory-core": { enabled: true } } },
    cron: { enabled: true, maxConcurrentRuns: 2 },
    session: { dmScope: "per-channel-peer", reset: { mode: "daily", atHour: 4 } },
  };
  return JSON.stringify(cfg, null, 2) + "\n";
}

function modelsJson(rng: Rng): string {
  return JSON.stringify({ providers: { anthropic: { baseUrl: "https://api.anthropic.com", models: ["claude-opus-4-6", "claude-sonnet-4-6"].map((id) => ({ id, contextWindow: 200000, maxTokens: 32000 })) }, openai: { models: [{ id: "gpt-5.2", contextWindow: 400000 }] } }, fetchedAt: rng.hex(8) }, null, 2) + "\n";
}

export function whatsappCreds(rng: Rng): string {
  const k = () => rng.bytes(32).toString("base64");
  return JSON.stringify({ noiseKey: { private: k(), public: k() }, pairingEphemeralKeyPair: { private: k(), public: k() }, signedIdentityKey: { private: k(), public: k() }, signedPreKey: { keyPair: { private: k(), public: k() }, signature: rng.bytes(64).toString("base64"), keyId: rng.int(1e6) }, registrationId: rng.int(16384), advSecretKey: k(), nextPreKeyId: rng.int(5000), firstUnuploadedPreKeyId: rng.int(5000), accountSyncCounter: rng.int(100), me: { id: "15550001111:12@s.whatsapp.net", name: "Claw" }, account: { details: rng.bytes(180).toString("base64"), accountSignatureKey: k(), accountSignature: rng.bytes(64).toString("base64"), deviceSignature: rng.bytes(64).toString("base64") }, platform: "smba" }, null, 2);
}

export function preKey(rng: Rng): string {
  return JSON.stringify({ private: rng.bytes(32).toString("base64"), public: rng.bytes(32).toString("base64") });
}

export function initSmallFiles(root: string, rng: Rng, agents: string[], now: number): void {
  writeAt(join(root, "openclaw.json"), configJson(rng, agents, now, 0), now - 3 * DAY_MS);
  writeAt(join(root, ".env"), `ANTHROPIC_API_KEY=sk-ant-api03-${rng.base62(86)}AA\nOPENAI_API_KEY=sk-proj-${rng.base62(120)}\nBRAVE_API_KEY=BSA${rng.base62(28)}\n`, now - 40 * DAY_MS);
  for (const a of agents) writeAt(join(root, "agents", a, "agent", "models.json"), modelsJson(rng), now - rng.int(10) * DAY_MS);
  const wa = join(root, "credentials", "whatsapp", "default");
  writeAt(join(wa, "creds.json"), whatsappCreds(rng), now - 3_600_000);
  for (let i = 0; i < 160; i++) writeAt(join(wa, `pre-key-${i + 1}.json`), preKey(rng), now - rng.int(30) * DAY_MS);
  for (let i = 0; i < 40; i++) writeAt(join(wa, `session-${rng.range(1e10, 9e10)}.0.json`), JSON.stringify({ _sessions: { [rng.bytes(33).toString("base64")]: { registrationId: rng.int(16384), currentRatchet: { rootKey: rng.bytes(32).toString("base64"), lastRemoteEphemeralKey: rng.bytes(33).toString("base64") }, chains: { [rng.bytes(33).toString("base64")]: { chainKey: { counter: rng.int(50), key: rng.bytes(32).toString("base64") } } } } } }), now - rng.int(30) * DAY_MS);
  writeAt(join(root, "credentials", "telegram-allowFrom.json"), JSON.stringify({ version: 1, allowFrom: [String(rng.range(1e8, 9e8)), String(rng.range(1e8, 9e8))] }, null, 2), now - 20 * DAY_MS);
  writeAt(join(root, "credentials", "oauth.json"), JSON.stringify({ "openai-codex": { access: rng.base62(200), refresh: rng.base62(60), expires: now + DAY_MS } }, null, 2), now - DAY_MS);
  writeAt(join(root, "cache", "model-catalog.json"), JSON.stringify(Array.from({ length: 400 }, () => ({ id: `${word(rng)}/${word(rng)}-${rng.int(9)}`, name: words(rng, 3), contextWindow: rng.pick([128000, 200000, 400000, 1000000]), cost: { input: rng.int(30), output: rng.int(90) } }))), now - 2 * DAY_MS);
  tmpChurn(root, rng, now);
}

export function tmpChurn(root: string, rng: Rng, now: number): void {
  rmSync(join(root, "tmp"), { recursive: true, force: true });
  for (let i = rng.range(1, 4); i > 0; i--) writeAt(join(root, "tmp", `openclaw-${rng.hex(8)}`, `${word(rng)}.txt`), sentence(rng).repeat(rng.range(1, 40)), now);
}

function mediaFile(rng: Rng): { name: string; bytes: Uint8Array } {
  const kind = rng.pick(["jpg", "jpg", "jpg", "ogg", "png", "pdf", "mp4"]);
  const median = kind === "mp4" ? 2_500_000 : kind === "ogg" ? 60_000 : kind === "pdf" ? 300_000 : 350_000;
  const size = rng.size(median, 0.6, 8_000, 12_000_000);
  return { name: `${rng.uuid()}.${kind}`, bytes: Buffer.concat([Buffer.from(`${kind.toUpperCase()}\0\0`), rng.bytes(size)]) };
}

/** Inbound media over the last two weeks, about `bytes` in all. */
export function initMedia(root: string, rng: Rng, bytes: number, now: number): void {
  let total = 0;
  while (total < bytes) {
    const m = mediaFile(rng);
    writeAt(join(root, "media", "inbound", m.name), m.bytes, now - rng.int(14 * DAY_MS));
    total += m.bytes.length;
  }
}

/** A day of media: about `bytes` arrive; files older than 14 days are pruned (OpenClaw's media TTL). */
export function mediaDay(root: string, rng: Rng, bytes: number, dayMs: number): { added: number; removed: number } {
  const dir = join(root, "media", "inbound");
  let removed = 0;
  for (const f of listFiles(dir)) {
    if (statSync(join(dir, f)).mtimeMs < dayMs - 14 * DAY_MS) {
      rmSync(join(dir, f));
      removed++;
    }
  }
  let total = 0;
  let added = 0;
  while (total < bytes) {
    const m = mediaFile(rng);
    writeAt(join(dir, m.name), m.bytes, dayMs + rng.int(DAY_MS - 3_600_000));
    total += m.bytes.length;
    added++;
  }
  return { added, removed };
}

/** Installed plugins: extensions/<id>/ (local installs) and npm/node_modules (registry installs). */
export function initExtensions(root: string, rng: Rng, bytes: number, now: number): void {
  const plugins = ["voice-call", "b2-backup", "calendar-sync", "home-assistant", "browser-relay"];
  let total = 0;
  let i = 0;
  while (total < bytes) {
    const id = plugins[i % plugins.length] ?? "plugin";
    const base = i < plugins.length ? join(root, "extensions", id) : join(root, "npm", "node_modules", `@openclaw-community/${word(rng)}-${rng.hex(4)}`);
    total += writePlugin(base, rng, id, `1.${rng.int(9)}.${rng.int(20)}`, Math.min(bytes - total, bytes / 6), now - rng.int(40) * DAY_MS);
    i++;
  }
}

function writePlugin(base: string, rng: Rng, id: string, version: string, bytes: number, mtime: number): number {
  let total = 0;
  const put = (rel: string, text: string) => {
    writeAt(join(base, rel), text, mtime);
    total += text.length;
  };
  put("package.json", JSON.stringify({ name: id, version, type: "module", openclaw: { extensions: ["./dist/index.js"] }, dependencies: { [word(rng)]: `^${rng.int(9)}.0.0` } }, null, 2));
  put("openclaw.plugin.json", JSON.stringify({ id, configSchema: { type: "object", properties: {} }, contracts: { tools: [word(rng)] }, activation: { onStartup: true } }, null, 2));
  put("README.md", markdown(rng, 4000, id));
  let n = 0;
  while (total < bytes) {
    const dir = n % 3 === 0 ? "dist" : `node_modules/${word(rng)}/lib`;
    put(`${dir}/${word(rng)}-${n}.js`, `// ${sentence(rng)}\n${code(rng, rng.size(120, 1, 10, 2500))}\n`);
    n++;
  }
  return total;
}

/** Every 10 days one plugin is updated: its version and a third of its files change. */
export function maybeUpdatePlugin(root: string, rng: Rng, day: number, now: number): string | null {
  if (day % 10 !== 0) return null;
  const dir = join(root, "extensions");
  if (!existsSync(dir)) return null;
  const plugins = listFiles(dir).filter((f) => f.endsWith("/package.json") && f.split("/").length === 2).map((f) => f.split("/")[0] ?? "");
  if (plugins.length === 0) return null;
  const id = plugins[(day / 10) % plugins.length] ?? plugins[0] ?? "";
  const base = join(dir, id);
  const pkg = JSON.parse(readFileSync(join(base, "package.json"), "utf8")) as { version: string };
  pkg.version = `${pkg.version}-u${day}`;
  writeAt(join(base, "package.json"), JSON.stringify(pkg, null, 2), now);
  for (const f of listFiles(base).filter((x) => x.endsWith(".js"))) {
    if (rng.chance(0.33)) writeAt(join(base, f), `// ${sentence(rng)}\n${code(rng, rng.size(120, 1, 10, 2500))}\n`, now);
  }
  return id;
}
