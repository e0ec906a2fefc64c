// The plugin's settings: defaults, the environment as a source for the three B2 fields, and one
// ConfigError naming the key for each kind of mistake.
import { describe, expect, it } from "vitest";
import { parseSettings } from "../../src/openclaw/config.ts";
import { ConfigError } from "../../src/errors.ts";

const three = { keyId: "0051a2b3c4d5e6f0000000001", applicationKey: "K005secretsecret", bucket: "my-backups" };

function problem(raw: Record<string, unknown>, env: Record<string, string> = {}): { key: string; message: string } {
  try {
    parseSettings(raw, env);
  } catch (err) {
    if (err instanceof ConfigError) return { key: err.key, message: err.message };
    throw err;
  }
  throw new Error("no ConfigError");
}

describe("plugin settings", () => {
  it("three fields are enough: B2 under the default prefix, daily, keep 10, the application key as passphrase", () => {
    const s = parseSettings(three, {});
    expect(s.target).toEqual({ url: "b2://my-backups/openclaw", keyId: three.keyId, applicationKey: three.applicationKey, passphrase: three.applicationKey });
    expect(s.passphraseIsApplicationKey).toBe(true);
    expect(s).toMatchObject({ schedule: "daily", cron: "0 0 * * *", retention: { keepLast: 10 }, exclude: [], secrets: "exclude" });
  });

  it("takes the three fields from the environment when the config leaves them out", () => {
    const s = parseSettings({ prefix: "host-a/" }, { B2_APPLICATION_KEY_ID: "id", B2_APPLICATION_KEY: "key", B2_BUCKET_NAME: "env-bucket" });
    expect(s.target.url).toBe("b2://env-bucket/host-a");
    expect(s.target.passphrase).toBe("key");
  });

  it("a passphrase, a schedule, retention, excludes, secrets and a file:// repository", () => {
    const s = parseSettings({ repository: "file:///var/backups/oc", passphrase: "pw", schedule: "*/5 * * * * *", retention: { keepLast: 3, keepDaily: 7, keepWeekly: 4 }, exclude: ["workspace/big/"], secrets: "include" }, {});
    expect(s.target).toEqual({ url: "file:///var/backups/oc", passphrase: "pw" });
    expect(s.passphraseIsApplicationKey).toBe(false);
    expect(s).toMatchObject({ cron: "*/5 * * * * *", retention: { keepLast: 3, keepDaily: 7, keepWeekly: 4 }, exclude: ["workspace/big/"], secrets: "include" });
    expect(parseSettings({ ...three, schedule: "off" }, {}).cron).toBeNull();
    expect(parseSettings({ ...three, schedule: "weekly" }, {}).cron).toBe("0 0 * * 0");
  });

  it("names the key and the problem", () => {
    expect(problem({ keyId: "id", applicationKey: "k" })).toMatchObject({ key: "bucket", message: expect.stringMatching(/bucket: is missing/) });
    expect(problem({ applicationKey: "k", bucket: "b" })).toMatchObject({ key: "keyId" });
    expect(problem({ keyId: "id", bucket: "b" })).toMatchObject({ key: "applicationKey" });
    expect(problem({ ...three, schedule: "every tuesday" })).toMatchObject({ key: "schedule", message: expect.stringContaining("every tuesday") });
    expect(problem({ ...three, schedule: 5 })).toMatchObject({ key: "schedule", message: expect.stringContaining("got number") });
    expect(problem({ ...three, retention: { keepLast: "ten" } })).toMatchObject({ key: "retention.keepLast" });
    expect(problem({ ...three, retention: { keepLast: 0 } })).toMatchObject({ key: "retention" });
    expect(problem({ ...three, retention: { keepMonthly: 2 } })).toMatchObject({ key: "retention.keepMonthly" });
    expect(problem({ ...three, exclude: "tmp/" })).toMatchObject({ key: "exclude" });
    expect(problem({ ...three, secrets: "some" })).toMatchObject({ key: "secrets" });
    expect(problem({ ...three, bucket: "no such bucket" })).toMatchObject({ key: "bucket" });
    expect(problem({ ...three, repository: "ftp://x" })).toMatchObject({ key: "repository" });
    expect(problem({ repository: "file:///x" })).toMatchObject({ key: "passphrase" });
    expect(problem({ ...three, keyid: "typo" })).toMatchObject({ key: "keyid", message: expect.stringContaining("unknown setting") });
    expect(problem({ ...three, keyId: 42 })).toMatchObject({ key: "keyId", message: expect.stringContaining("must be a string") });
  });

  it("never puts a secret into a message", () => {
    const secret = "K005-very-secret-value";
    const messages = [
      problem({ keyId: "id", applicationKey: secret }),
      problem({ keyId: "id", applicationKey: secret, bucket: "b", schedule: "bad cron" }),
      problem({ keyId: "id", applicationKey: secret, bucket: "b", repository: `s3://user:${secret}@host/x` }),
    ].map((p) => p.message);
    for (const m of messages) expect(m).not.toContain(secret);
  });
});
