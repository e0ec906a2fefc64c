// Sizing and the generator's own small metadata file.

import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const DAY_MS = 86_400_000;
/** Day 0 (the state `init` writes) is 2026-09-01; day K is K days later. */
const BASE_MS = Date.UTC(2026, 8, 1);
export const META_FILE = ".bench-gen.json";

export interface GenMeta {
  generator: "clawback-bench-gen";
  version: 1;
  seed: string;
  sizeBytes: number;
  agents: string[];
  day: number;
}

export const AGENT_NAMES = ["main", "ops", "research", "home", "coder", "scribe"];

/** Shares of the target size (bytes on disk). The rest is small files (config, credentials, tmp). */
export const SHARES = {
  agentDbs: 0.55,
  stateDb: 0.03,
  cold: 0.14,
  media: 0.09,
  workspaceText: 0.02,
  attachments: 0.06,
  extensions: 0.05,
};

/** Fractions of the target size touched per simulated day. */
export const DAILY = {
  transcript: 0.004,
  media: 0.0035,
};

export function agentCount(sizeBytes: number): number {
  return Math.max(2, Math.min(AGENT_NAMES.length, Math.round(sizeBytes / (125 * 1024 * 1024))));
}

/** Share of each agent in the per-agent budgets: main is the busiest. */
export function agentWeights(agents: string[]): number[] {
  const rest = agents.length - 1;
  return agents.map((a) => (a === "main" ? 0.4 : 0.6 / rest));
}

export function readMeta(root: string): GenMeta {
  return JSON.parse(readFileSync(join(root, META_FILE), "utf8")) as GenMeta;
}

export function writeMeta(root: string, meta: GenMeta): void {
  writeFileSync(join(root, META_FILE), JSON.stringify(meta, null, 2) + "\n");
}

/** Write a file (creating folders) and give it a simulated modification time. */
export function writeAt(path: string, content: string | Uint8Array, mtimeMs: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  const t = new Date(mtimeMs);
  utimesSync(path, t, t);
}

export function dayStart(day: number): number {
  return BASE_MS + day * DAY_MS;
}
