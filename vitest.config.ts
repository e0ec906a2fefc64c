import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/helpers/cleanup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Several suites start servers and write large temporary trees; two cores, so keep it modest.
    maxWorkers: 2,
  },
});
