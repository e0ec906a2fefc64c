// The committed kernel binary is exactly what its source builds to.

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { KERNEL_URL } from "../../src/chunker/index.ts";

const BUILD_SCRIPT = fileURLToPath(new URL("../../wasm/build.mjs", import.meta.url));

describe("wasm kernel build", () => {
  it("rebuilding wasm/assembly/fastcdc.ts reproduces wasm/build/fastcdc.wasm byte for byte", async () => {
    const dir = await mkdtemp(join(tmpdir(), "clawback-wasm-"));
    try {
      const out = join(dir, "fastcdc.wasm");
      await promisify(execFile)(process.execPath, [BUILD_SCRIPT, "--out", out]);
      const [rebuilt, committed] = await Promise.all([readFile(out), readFile(KERNEL_URL)]);
      expect(rebuilt.length).toBeGreaterThan(0);
      expect(Buffer.compare(rebuilt, committed)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
