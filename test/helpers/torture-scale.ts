// How hard the torture suites (test/torture/) push. `npm test` runs reduced counts so that the
// whole suite stays within a few minutes of a 2-core machine; `npm run test:torture` sets
// CLAWBACK_TORTURE=1 and runs the counts the issue asks for (≥300 kills, 50 concurrency rounds,
// ≥100,000 parser cases).

export const FULL = process.env.CLAWBACK_TORTURE === "1";

/** `reduced` in the default run, `full` under CLAWBACK_TORTURE=1. */
export function scale(reduced: number, full: number): number {
  return FULL ? full : reduced;
}

/**
 * The seed a suite starts from: CLAWBACK_TORTURE_SEED when set (to replay a failure), else a
 * fresh one. Suites print it in every failure message.
 */
export function torturedSeed(): number {
  const given = process.env.CLAWBACK_TORTURE_SEED;
  if (given !== undefined && given !== "") return Number(given) >>> 0;
  return (Math.random() * 2 ** 32) >>> 0;
}

/** Wall-clock budget of a torture test, generous for a shared 2-core machine. */
export function budgetMs(reducedMinutes: number, fullMinutes: number): number {
  return scale(reducedMinutes, fullMinutes) * 60_000;
}
