import { describe, expect, it } from "vitest";
import { Repository } from "../../src/engine/repository.ts";
import { UsageError, WrongPassphraseError, UnsupportedFormatError } from "../../src/errors.ts";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { PASSPHRASE } from "../helpers/repo.ts";
import { useScratch } from "../helpers/scratch.ts";

describe("passphrases and key files", () => {
  const scratch = useScratch();

  it("a wrong passphrase is refused; key add makes a second one work; remove revokes it", async () => {
    const t = await scratch.repo();
    await expect(Repository.open(t.url, { passphrase: "nope", cacheDir: t.cacheDir })).rejects.toBeInstanceOf(WrongPassphraseError);

    const added = await t.repo.addKey("second passphrase");
    const second = await Repository.open(t.url, { passphrase: "second passphrase", cacheDir: t.cacheDir });
    expect(second.id).toBe(t.repo.id);
    const first = await Repository.open(t.url, { passphrase: PASSPHRASE, cacheDir: t.cacheDir });
    expect((await first.listKeys()).length).toBe(2);
    await expect(second.removeKey(added)).rejects.toBeInstanceOf(UsageError); // the key it was opened with
    await first.removeKey(added);
    await expect(Repository.open(t.url, { passphrase: "second passphrase", cacheDir: t.cacheDir })).rejects.toBeInstanceOf(WrongPassphraseError);
    await Repository.open(t.url, { passphrase: PASSPHRASE, cacheDir: t.cacheDir }).then((r) => r.close());
    await first.close();
    await second.close();
  });

  it("refuses to remove the last key", async () => {
    const t = await scratch.repo();
    const only = (await t.repo.listKeys())[0]!;
    expect(only.current).toBe(true);
    await expect(t.repo.removeKey(only.id)).rejects.toBeInstanceOf(UsageError);
  });

  it("a repository of an unknown format version is refused with a message that says so", async () => {
    const t = await scratch.repo();
    const cfgPath = path.join(t.url, "config");
    const cfg = JSON.parse(await fs.readFile(cfgPath, "utf8"));
    await fs.writeFile(cfgPath, JSON.stringify({ ...cfg, version: 99 }));
    const err = await Repository.open(t.url, { passphrase: PASSPHRASE, cacheDir: t.cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedFormatError);
    expect((err as Error).message).toMatch(/version 99 is not supported/);
  });

  it("nothing in the bucket besides config and keys/ reveals names or content", async () => {
    const t = await scratch.repo();
    const src = await scratch.dir("src");
    await fs.writeFile(path.join(src, "very-secret-name.txt"), "top secret content ".repeat(100));
    await t.repo.commit(src);
    for (const e of await fs.readdir(t.url, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const bytes = await fs.readFile(path.join(e.parentPath, e.name));
      expect(bytes.includes("very-secret-name"), e.name).toBe(false);
      expect(bytes.includes("top secret"), e.name).toBe(false);
      expect(bytes.includes(PASSPHRASE), e.name).toBe(false);
    }
  });
});
