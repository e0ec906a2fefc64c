import { defineConfig } from "vitest/config";

const GATEWAY_SCENARIOS = [
  "test/openclaw/harness.test.ts",
  "test/openclaw/live-databases.test.ts",
  "test/openclaw/backup-faults.test.ts",
  "test/openclaw/config-errors.test.ts",
  "test/openclaw/install-tarball.test.ts",
  "test/openclaw/restore/gateway-restore.test.ts",
  "test/openclaw/restore/gateway-restore-faults.test.ts",
  "test/openclaw/restore/turn-counting.test.ts",
];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real-gateway scenarios beyond the one that npm test runs (backup-triggers):
    // each starts gateways of its own for minutes, so they run with `npm run test:gateway`.
    exclude: process.env.CLAWBACK_GATEWAY ? [] : GATEWAY_SCENARIOS,
    setupFiles: ["test/helpers/cleanup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Several suites start servers and write large temporary trees; two cores, so keep it modest.
    maxWorkers: 2,
  },
});
