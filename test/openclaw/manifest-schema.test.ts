// openclaw.plugin.json's configSchema against OpenClaw's own validator (the one the gateway runs on
// plugins.entries.clawback.config). OpenClaw 2026.9.6 treats a plugin config that fails the
// manifest's schema as an invalid openclaw.json: `config set` refuses it, a gateway refuses to start
// (exit 78, "OpenClaw config is invalid") and every openclaw command, `openclaw clawback status`
// included, fails. So the schema describes the settings without constraining them, and every
// mistake reaches parseSettings, which names the key while the gateway runs (docs/openclaw.md,
// "Configuration errors").
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseSettings } from "../../src/openclaw/config.ts";
import { ConfigError } from "../../src/errors.ts";
import { PROJECT_ROOT } from "./helpers/gateway.ts";

interface SchemaResult {
  ok: boolean;
  value?: unknown;
  errors?: { path: string; message: string }[];
}
type Validate = (params: { schema: unknown; value: unknown; applyDefaults?: boolean; cache?: boolean }) => SchemaResult;

async function openclawValidator(): Promise<Validate> {
  // The SDK ships this module without type declarations: a computed specifier keeps tsc out of it.
  const specifier = "openclaw/plugin-sdk/json-schema-runtime";
  const mod = (await import(specifier)) as { validateJsonSchemaValue: Validate };
  return mod.validateJsonSchemaValue;
}

async function manifestSchema(): Promise<unknown> {
  const manifest = JSON.parse(await fs.readFile(path.join(PROJECT_ROOT, "openclaw.plugin.json"), "utf8")) as { configSchema: unknown };
  return manifest.configSchema;
}

const base = { repository: "file:///var/backups/oc", passphrase: "pw" };

// Mistakes of type or shape, each with the key parseSettings names.
const MISTAKES: [string, Record<string, unknown>, string][] = [
  ["a word for a count", { ...base, retention: { keepLast: "ten" } }, "retention.keepLast"],
  ["a negative count", { ...base, retention: { keepDaily: -1 } }, "retention.keepDaily"],
  ["a number for retention", { ...base, retention: 10 }, "retention"],
  ["an unknown retention key", { ...base, retention: { keepHourly: 3 } }, "retention.keepHourly"],
  ["a number for the schedule", { ...base, schedule: 3 }, "schedule"],
  ["a string for the exclude list", { ...base, exclude: "*.tmp" }, "exclude"],
  ["an unknown secrets mode", { ...base, secrets: "all" }, "secrets"],
  ["a number for the bucket", { keyId: "id", applicationKey: "key", bucket: 123 }, "bucket"],
  ["a misspelt key", { ...base, bucktet: "b" }, "bucktet"],
];

describe("the manifest's configSchema under OpenClaw's validator", () => {
  it("lets every mistake of type or shape through to parseSettings, which names the key", async () => {
    const validate = await openclawValidator();
    const schema = await manifestSchema();
    for (const [what, config, key] of MISTAKES) {
      const result = validate({ schema, value: structuredClone(config), applyDefaults: true, cache: false });
      expect(result.errors ?? [], what).toEqual([]);
      expect(result.ok, what).toBe(true);
      let named: string | undefined;
      try {
        parseSettings(result.value as Record<string, unknown>, {});
      } catch (err) {
        if (err instanceof ConfigError) named = err.key;
        else throw err;
      }
      expect(named, what).toBe(key);
    }
  });

  it("fills in the documented defaults, which parseSettings accepts", async () => {
    const validate = await openclawValidator();
    const result = validate({ schema: await manifestSchema(), value: { keyId: "id", applicationKey: "key", bucket: "b" }, applyDefaults: true, cache: false });
    expect(result.ok).toBe(true);
    expect(result.value).toMatchObject({ prefix: "openclaw", schedule: "daily", secrets: "exclude" });
    const s = parseSettings(result.value as Record<string, unknown>, {});
    expect(s).toMatchObject({ schedule: "daily", secrets: "exclude", retention: { keepLast: 10 } });
    expect(s.target.url).toBe("b2://b/openclaw");
  });
});
