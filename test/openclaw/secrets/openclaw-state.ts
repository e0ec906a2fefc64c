import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

// A real OpenClaw state folder for the secrets tests: the databases made by the installed
// OpenClaw's own code (its schema, its pragmas), then seeded with distinctive secret values in
// every secret table and row, openclaw.json and its copies, credentials/, .env and the other
// secret files.

const run = promisify(execFile);
export const OPENCLAW_DIST = fileURLToPath(new URL("../../../node_modules/openclaw/dist", import.meta.url));
const OPENCLAW_BIN = fileURLToPath(new URL("../../../node_modules/openclaw/openclaw.mjs", import.meta.url));
const MAKE_STATE = fileURLToPath(new URL("./make-state.child.mjs", import.meta.url));

/** The environment of an OpenClaw process: the test runner's own variables removed (OpenClaw's CLI prints nothing under VITEST). */
function openclawEnv(stateDir: string, home: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_ENV" && k !== "TEST"));
  return { ...env, OPENCLAW_STATE_DIR: stateDir, HOME: home, NO_COLOR: "1" };
}

/** Runs the openclaw CLI on a state folder (Node 24: the one running the tests). */
export async function openclaw(stateDir: string, home: string, args: string[], timeoutMs = 240_000): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [OPENCLAW_BIN, ...args], { env: openclawEnv(stateDir, home), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
}

/** Creates state/openclaw.sqlite and agents/<id>/agent/openclaw-agent.sqlite with OpenClaw's own code. */
export async function makeOpenClawState(stateDir: string, home: string, agents: string[]): Promise<void> {
  await fs.mkdir(home, { recursive: true });
  await run(process.execPath, [MAKE_STATE, OPENCLAW_DIST, ...agents], { env: openclawEnv(stateDir, home), timeout: 120_000 });
}

/** A function of the installed OpenClaw's bundle, found by its source name (2026.9.6 exports none of these). */
export async function openclawFunction<T>(fnName: string): Promise<T> {
  for (const name of await fs.readdir(OPENCLAW_DIST)) {
    if (!name.endsWith(".mjs")) continue;
    const file = path.join(OPENCLAW_DIST, name);
    const text = await fs.readFile(file, "utf8");
    if (!text.includes(`\nfunction ${fnName}(`)) continue;
    const exported = /\nexport \{([^}]*)\};?\s*$/.exec(text);
    const alias = exported?.[1]!.split(",").map((s) => s.trim().split(/\s+as\s+/)).find(([local]) => local === fnName)?.[1];
    if (alias) return ((await import(pathToFileURL(file).href)) as Record<string, T>)[alias]!;
  }
  throw new Error(`${fnName} not found in ${OPENCLAW_DIST}`);
}

/** Columns whose CHECK constraints a generic value would break (integrity_check reports those). */
type Seeded = string | number | Buffer;
const CHECKED: Record<string, (seeded: Seeded) => Seeded> = {
  "config_revision_keys.hmac_key": (v) => (typeof v === "string" ? v.slice(0, 32) : Buffer.isBuffer(v) ? v.subarray(0, 32) : v),
  "secret_store_entries.scope_kind": () => "identity",
  "secret_store_entries.kind": () => "secret",
  "session_suggestions.state": () => "pending",
  "session_suggestions.dispatch_resolution": () => "send",
};

export interface SeededSecrets {
  /** Every secret value seeded (each distinctive: a marker and a random part). */
  values: string[];
  /** Values seeded next to them that are not secrets (they must survive). */
  kept: string[];
  config: Record<string, unknown>;
}

export const GLOBAL_DB = "state/openclaw.sqlite";
export const agentDb = (id: string) => `agents/${id}/agent/openclaw-agent.sqlite`;

type SecretTables = { global: readonly string[]; agent: readonly string[]; agents: string[] };

/**
 * Seeds a state folder made by makeOpenClawState (databases, config and its copies, secret files);
 * `tag` tells one machine's secrets from another's.
 */
export async function seedSecrets(stateDir: string, tag: string, tables: SecretTables): Promise<SeededSecrets> {
  const { values, kept, secret } = seeder(tag);
  seedDatabaseSecrets(stateDir, tag, tables, { values, kept, secret });

  const config = (generation: string) => ({
    gateway: { mode: "local", auth: { mode: "token", token: secret(`gateway.token.${generation}`) } },
    models: {
      mode: "merge",
      providers: {
        mock: {
          baseUrl: "http://127.0.0.1:9/v1",
          apiKey: secret(`provider.apiKey.${generation}`),
          api: "openai-completions",
          models: [{ id: "mock-1", name: "Mock", reasoning: false, input: ["text"], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 }, contextWindow: 100000, maxTokens: 4000 }],
        },
      },
    },
    agents: { defaults: { model: { primary: "mock/mock-1" } } },
    channels: { telegram: { botToken: secret(`telegram.botToken.${generation}`) } },
    plugins: { entries: { clawback: { config: { keyId: `key-${tag}`, applicationKey: secret(`clawback.applicationKey.${generation}`), bucket: `bucket-${tag}`, passphrase: secret(`clawback.passphrase.${generation}`) } } } },
  });
  const current = config("now");
  await fs.writeFile(path.join(stateDir, "openclaw.json"), `${JSON.stringify(current, null, 2)}\n`, { mode: 0o600 });
  for (const copy of ["openclaw.json.bak", "openclaw.json.bak.1", "openclaw.json.last-good"]) await fs.writeFile(path.join(stateDir, copy), `${JSON.stringify(config(copy.slice("openclaw.json.".length)), null, 2)}\n`, { mode: 0o600 });

  await fs.mkdir(path.join(stateDir, "credentials", "whatsapp", "default"), { recursive: true });
  await fs.writeFile(path.join(stateDir, "credentials", "whatsapp", "default", "creds.json"), JSON.stringify({ noiseKey: secret("whatsapp.creds") }));
  await fs.writeFile(path.join(stateDir, ".env"), `OPENAI_API_KEY=${secret("env.OPENAI_API_KEY")}\n`);
  await fs.writeFile(path.join(stateDir, "secrets.json"), JSON.stringify({ token: secret("secrets.json") }));
  await fs.writeFile(path.join(stateDir, "agents", tables.agents[0]!, "agent", "auth-profiles.json"), JSON.stringify({ profiles: { openai: { key: secret("auth-profiles") } } }));
  await fs.mkdir(path.join(stateDir, "workspace"), { recursive: true });
  const note = `KEPT-${tag}-memory-${randomBytes(6).toString("hex")}`;
  kept.push(note);
  await fs.writeFile(path.join(stateDir, "workspace", "MEMORY.md"), `# Memory\n${note}\n`);
  return { values, kept, config: current };
}

interface Seeder {
  values: string[];
  kept: string[];
  secret: (what: string, long?: boolean) => string;
}

function seeder(tag: string): Seeder {
  const values: string[] = [];
  const kept: string[] = [];
  const secret = (what: string, long = false) => {
    const v = `CLAWSECRET-${tag}-${what}-${randomBytes(6).toString("hex")}${long ? `-${randomBytes(2500).toString("hex")}` : ""}`;
    values.push(v);
    return v;
  };
  return { values, kept, secret };
}

/**
 * Seeds the secret tables and rows of the global and agent databases (also those of a running
 * gateway: SQLite's locks serialise the writes). Returns the values seeded and those kept.
 */
export function seedDatabaseSecrets(stateDir: string, tag: string, tables: SecretTables, into: Seeder = seeder(tag)): { values: string[]; kept: string[] } {
  const { values, kept, secret } = into;
  const seedDb = (rel: string, secretTables: readonly string[], machineState: boolean) => {
    // A running gateway may hold the write lock a moment: wait for it rather than fail.
    const db = new DatabaseSync(path.join(stateDir, rel), { enableForeignKeyConstraints: false, timeout: 15_000 });
    try {
      const existing = new Set(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((r) => String(r.name)));
      for (const table of secretTables) {
        if (!existing.has(table)) continue;
        const cols = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string; type: string }[];
        const seededBefore = values.length;
        const lastText = cols.map((c) => /INT|REAL/i.test(c.type)).lastIndexOf(false);
        const row = cols.map((c, i) => {
          const generic = /INT/i.test(c.type) ? 1 : /REAL/i.test(c.type) ? 1.5 : /BLOB/i.test(c.type) ? Buffer.from(secret(`${table}.${c.name}`)) : secret(`${table}.${c.name}`, i === lastText);
          const checked = CHECKED[`${table}.${c.name}`];
          if (!checked) return generic;
          // What the constraint allows replaces the generated value, which is then not looked for.
          values.splice(values.indexOf(generic.toString()), 1);
          const value = checked(generic);
          if (typeof value !== "number" && value.toString().startsWith("CLAWSECRET")) values.push(value.toString());
          return value;
        });
        const insert = db.prepare(`INSERT INTO "${table}" (${cols.map((c) => `"${c.name}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`);
        try {
          insert.run(...row);
        } catch (err) {
          // A live gateway's table may already hold a row with key 1: the integers made distinct.
          if (!/UNIQUE/.test(String(err))) throw err;
          try {
            insert.run(...row.map((v, i) => (/INT/i.test(cols[i]!.type) && v === 1 ? 900_000_000 + randomBytes(3).readUIntBE(0, 3) : v)));
          } catch (again) {
            // A table of one row (CHECK id = 1, e.g. config_revision_keys) that the gateway has
            // filled already: its own secret stays, nothing of ours is seeded there.
            if (!/CHECK/.test(String(again))) throw again;
            values.splice(seededBefore);
          }
        }
      }
      if (machineState) {
        const add = db.prepare("INSERT INTO config_machine_state (state_key, value_json, updated_at_ms) VALUES (?, ?, 1)");
        for (const key of ["authProfiles.main", "nodeHost.pairing", "webPush.vapidKeys"]) add.run(key, JSON.stringify({ secret: secret(`config_machine_state.${key}`) }));
        const keep = `KEPT-${tag}-${randomBytes(6).toString("hex")}`;
        kept.push(keep);
        add.run("ui.lastTab", JSON.stringify({ tab: keep }));
      }
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  };
  seedDb(GLOBAL_DB, tables.global, true);
  for (const id of tables.agents) seedDb(agentDb(id), tables.agent, false);
  return { values, kept };
}

/** The seeded values found in `buffers` (whole, or their first 40 characters: a value cut by a chunk boundary still shows). */
export function leaked(values: readonly string[], buffers: readonly Buffer[]): string[] {
  return values.filter((v) => buffers.some((b) => b.includes(v) || b.includes(v.slice(0, 40)) || (v.length > 200 && b.includes(v.slice(v.length / 2, v.length / 2 + 48)))));
}

/** Every regular file under `dir`, read. */
export async function readAllFiles(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await fs.readFile(path.join(entry.parentPath, entry.name)));
  }
  return out;
}

export function integrityCheck(file: string): string {
  const db = new DatabaseSync(file);
  try {
    return db.prepare("PRAGMA integrity_check").all().map((r) => String(r.integrity_check)).join("; ");
  } finally {
    db.close();
  }
}

/** Rows of a table, as JSON text, sorted (to compare two databases' tables). */
export function tableRows(file: string, table: string, where = "1"): string[] {
  const db = new DatabaseSync(file);
  try {
    const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table);
    if (!exists) return [];
    return db
      .prepare(`SELECT * FROM "${table}" WHERE ${where}`)
      .all()
      .map((r) => JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)))
      .sort();
  } finally {
    db.close();
  }
}

export function schemaOf(file: string): string[] {
  const db = new DatabaseSync(file);
  try {
    return db.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name").all().map((r) => `${String(r.type)} ${String(r.name)} ${String(r.sql)}`);
  } finally {
    db.close();
  }
}

export function hasForeignKeys(file: string, table: string): boolean {
  const db = new DatabaseSync(file);
  try {
    return db.prepare(`PRAGMA foreign_key_list("${table}")`).all().length > 0;
  } finally {
    db.close();
  }
}
