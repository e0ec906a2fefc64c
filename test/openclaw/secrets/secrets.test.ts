import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { AGENT_SECRET_TABLES, GLOBAL_SECRET_TABLES, SECRET_MACHINE_STATE_KEY_PREFIXES } from "../../../src/openclaw/secrets/secret-state.ts";
import { openclawCommitOptions } from "../../../src/openclaw/secrets/commit-options.ts";
import { REDACTED } from "../../../src/openclaw/secrets/config-secrets.ts";
import { restoreSecrets } from "../../../src/openclaw/secrets/restore-secrets.ts";
import { newRepo, PASSPHRASE, type TestRepo } from "../../helpers/repo.ts";
import { settle, tempDir } from "../../helpers/tree.ts";
import { repositoryPlaintexts } from "./plaintext.ts";
import { agentDb, GLOBAL_DB, hasForeignKeys, integrityCheck, leaked, makeOpenClawState, openclaw, readAllFiles, schemaOf, seedSecrets, tableRows, type SeededSecrets } from "./openclaw-state.ts";

// Invariant 9 against a real OpenClaw state (databases made by the installed OpenClaw's own code):
// after backups, no seeded secret is anywhere in the repository, decrypted or not, and what was
// captured restores as sound databases with the same schema; a restore onto a machine with other
// secrets keeps that machine's secrets, and its openclaw.json validates in OpenClaw.

const AGENTS = ["main", "ops"];
const DATABASES = [GLOBAL_DB, ...AGENTS.map(agentDb)];
const machineStateSecret = SECRET_MACHINE_STATE_KEY_PREFIXES.map((p) => `substr(state_key, 1, ${p.length}) = '${p}'`).join(" OR ");

describe("OpenClaw's secrets stay on the machine (invariant 9)", () => {
  let root: string;
  let state: string;
  let seeded: SeededSecrets;
  let repo: TestRepo;
  let snapshots: string[] = [];

  beforeAll(async () => {
    root = await tempDir("openclaw-secrets");
    state = path.join(root, "a", "state");
    await makeOpenClawState(state, path.join(root, "a", "home"), AGENTS);
    seeded = await seedSecrets(state, "A", { global: GLOBAL_SECRET_TABLES, agent: AGENT_SECRET_TABLES, agents: AGENTS });
    await settle(...DATABASES.map((d) => path.join(state, d)), path.join(state, "openclaw.json"));
    repo = await newRepo();
    const options = openclawCommitOptions();
    snapshots.push((await repo.repo.commit(state, { ...options, reason: "schedule" })).snapshot.id);
    // A second backup after the secrets changed (a rotated device token, a new pairing), and a
    // third with nothing changed: what the stat cache and the listing memo reuse must be scrubbed too.
    const db = new DatabaseSync(path.join(state, GLOBAL_DB));
    const rotated = `CLAWSECRET-A-rotated-${Date.now().toString(16)}`;
    seeded.values.push(rotated);
    db.prepare("UPDATE device_auth_tokens SET token = ?").run(rotated);
    db.prepare("UPDATE config_machine_state SET value_json = ? WHERE state_key = 'nodeHost.pairing'").run(JSON.stringify({ secret: `${rotated}-pairing` }));
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    await settle(path.join(state, GLOBAL_DB));
    snapshots.push((await repo.repo.commit(state, { ...options, reason: "schedule" })).snapshot.id);
    const third = await repo.repo.commit(state, { ...options, reason: "schedule" });
    // (Files come from the stat cache unless written in the last seconds: test/engine/commit/scrub.test.ts.)
    expect(await repo.repo.diff(snapshots[1]!, third.snapshot.id)).toEqual([]);
    snapshots.push(third.snapshot.id);
  }, 300_000);

  afterAll(async () => {
    await repo?.cleanup();
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it("the seeded state holds every secret where the scan looks (the control: a backup with secrets included has them all)", async () => {
    expect(seeded.values.length).toBeGreaterThan(60);
    const full = await newRepo();
    try {
      const snap = await full.repo.commit(state, openclawCommitOptions({ secrets: "include" }));
      const out = path.join(root, "control");
      await full.repo.checkout(snap.snapshot.id, out);
      const { decrypted } = await repositoryPlaintexts(full.raw, PASSPHRASE);
      // Every value still in the live state (the rotated-away token is not) is found.
      const live = await readAllFiles(state);
      const present = seeded.values.filter((v) => leaked([v], live).length === 1);
      expect(present.length).toBeGreaterThan(60);
      expect(leaked(present, [...decrypted, ...(await readAllFiles(out))]).sort()).toEqual(present.sort());
    } finally {
      await full.cleanup();
    }
  }, 120_000);

  it("no secret value is in any object of the repository, decrypted or as stored, after three backups", async () => {
    const { decrypted, raw, blobs } = await repositoryPlaintexts(repo.raw, PASSPHRASE);
    expect(blobs).toBeGreaterThan(10);
    expect(leaked(seeded.values, decrypted)).toEqual([]);
    expect(leaked(seeded.values, raw)).toEqual([]);
    // Nor in any restored snapshot, read whole (a value cut in two by a chunk boundary shows here).
    for (const id of snapshots) {
      const out = path.join(root, `restored-${id.slice(0, 8)}`);
      await repo.repo.checkout(id, out);
      expect(leaked(seeded.values, await readAllFiles(out))).toEqual([]);
      for (const kept of seeded.kept) expect(leaked([kept], await readAllFiles(out))).toEqual([kept]);
    }
  }, 180_000);

  it("secret files are left out, openclaw.json and its copies keep everything but their secret values", async () => {
    const listed = (await repo.repo.ls(snapshots[0]!)).map((e) => e.path);
    for (const p of ["credentials", ".env", "secrets.json", "agents/main/agent/auth-profiles.json", "config-journal-fingerprint.key"]) expect(listed).not.toContain(p);
    for (const p of ["openclaw.json", "openclaw.json.bak", "openclaw.json.bak.1", "openclaw.json.last-good", "workspace/MEMORY.md", ...DATABASES]) expect(listed).toContain(p);
    const out = path.join(root, `restored-${snapshots[0]!.slice(0, 8)}`);
    const config = JSON.parse(await fs.readFile(path.join(out, "openclaw.json"), "utf8")) as typeof seeded.config & Record<string, any>;
    expect(config.gateway.auth).toEqual({ mode: "token", token: REDACTED });
    expect(config.models.providers.mock.apiKey).toBe(REDACTED);
    expect(config.models.providers.mock.baseUrl).toBe("http://127.0.0.1:9/v1");
    expect(config.channels.telegram.botToken).toBe(REDACTED);
    expect(config.plugins.entries.clawback.config).toEqual({ keyId: "key-A", applicationKey: REDACTED, bucket: "bucket-A", passphrase: REDACTED });
  });

  it("each captured database restores sound (integrity_check through node:sqlite), with its schema, its other rows, and no secret rows", async () => {
    const out = path.join(root, `restored-${snapshots[1]!.slice(0, 8)}`);
    for (const rel of DATABASES) {
      const restored = path.join(out, rel);
      expect(integrityCheck(restored)).toBe("ok");
      expect(schemaOf(restored)).toEqual(schemaOf(path.join(state, rel)));
      for (const table of rel === GLOBAL_DB ? GLOBAL_SECRET_TABLES : AGENT_SECRET_TABLES) expect(tableRows(restored, table)).toEqual([]);
    }
    const restoredGlobal = path.join(out, GLOBAL_DB);
    expect(tableRows(restoredGlobal, "config_machine_state", machineStateSecret)).toEqual([]);
    expect(tableRows(restoredGlobal, "config_machine_state", `NOT (${machineStateSecret})`)).toEqual(tableRows(path.join(state, GLOBAL_DB), "config_machine_state", `NOT (${machineStateSecret})`));
  });

  it("a restore onto a machine with other secrets keeps that machine's secrets; its openclaw.json validates in OpenClaw", async () => {
    // Machine B: its own OpenClaw state, with its own secrets.
    const stateB = path.join(root, "b", "state");
    const homeB = path.join(root, "b", "home");
    await makeOpenClawState(stateB, homeB, AGENTS);
    const secretsB = await seedSecrets(stateB, "B", { global: GLOBAL_SECRET_TABLES, agent: AGENT_SECRET_TABLES, agents: AGENTS });
    // A's backup checked out over a copy of B's state folder (as with the gateway stopped): the
    // checkout keeps what the snapshot left out (credentials/, .env, …), the databases and the
    // config come from the snapshot.
    const target = path.join(root, "b", "target");
    await fs.cp(stateB, target, { recursive: true });
    const result = await repo.repo.checkout(snapshots[1]!, target, openclawCommitOptions().scrub ? { scrub: openclawCommitOptions().scrub! } : {});
    expect(result.safetySnapshot).toBeDefined();
    expect(await fs.readFile(path.join(target, ".env"), "utf8")).toBe(await fs.readFile(path.join(stateB, ".env"), "utf8"));
    expect(await fs.readdir(path.join(target, "credentials", "whatsapp", "default"))).toEqual(["creds.json"]);

    const done = await restoreSecrets({ currentStateDir: stateB, restoredStateDir: target });
    expect(done.configs).toEqual(["openclaw.json", "openclaw.json.bak", "openclaw.json.bak.1", "openclaw.json.last-good"]);
    expect(Object.keys(done.rows).sort()).toEqual([...DATABASES].sort());

    // A's memory and non-secret state, B's secrets.
    const memory = await fs.readFile(path.join(target, "workspace", "MEMORY.md"), "utf8");
    expect(seeded.kept.some((k) => memory.includes(k))).toBe(true);
    const config = JSON.parse(await fs.readFile(path.join(target, "openclaw.json"), "utf8")) as Record<string, any>;
    const configB = secretsB.config as Record<string, any>;
    expect(config.gateway.auth.token).toBe(configB.gateway.auth.token);
    expect(config.models.providers.mock.apiKey).toBe(configB.models.providers.mock.apiKey);
    expect(config.channels.telegram.botToken).toBe(configB.channels.telegram.botToken);
    expect(config.plugins.entries.clawback).toEqual(configB.plugins.entries.clawback);
    for (const rel of DATABASES) {
      const restored = path.join(target, rel);
      expect(integrityCheck(restored)).toBe("ok");
      for (const table of rel === GLOBAL_DB ? GLOBAL_SECRET_TABLES : AGENT_SECRET_TABLES) {
        // A row whose parent row the restored database lacks is left out (the seeded rows have
        // none: worker_environment_credentials, session_suggestions); every other row is B's.
        const expected = hasForeignKeys(path.join(stateB, rel), table) ? [] : tableRows(path.join(stateB, rel), table);
        expect(tableRows(restored, table)).toEqual(expected);
      }
    }
    expect(tableRows(path.join(target, GLOBAL_DB), "config_machine_state", machineStateSecret)).toEqual(tableRows(path.join(stateB, GLOBAL_DB), "config_machine_state", machineStateSecret));
    expect(tableRows(path.join(target, GLOBAL_DB), "config_machine_state", "state_key = 'ui.lastTab'")).toEqual(tableRows(path.join(state, GLOBAL_DB), "config_machine_state", "state_key = 'ui.lastTab'"));
    // Nothing of A's secrets (never in the bucket), everything of B's.
    const files = await readAllFiles(target);
    expect(leaked(seeded.values, files)).toEqual([]);
    // All but the rows left out as orphans, and the values of B's older config copies (each
    // restored copy gets B's openclaw.json's secrets, as it is now).
    const orphaned = ["worker_environment_credentials.", "session_suggestions."];
    const expectedB = secretsB.values.filter((v) => !orphaned.some((t) => v.startsWith(`CLAWSECRET-B-${t}`)) && !/\.(bak|bak\.1|last-good)-[0-9a-f]{12}$/.test(v));
    expect(leaked(expectedB, files).sort()).toEqual(expectedB.sort());

    const { stdout, stderr } = await openclaw(target, homeB, ["config", "validate", "--json"]);
    const answer = `${stdout}\n${stderr}`;
    expect(answer).toContain('"valid":true');
  }, 400_000);
});
