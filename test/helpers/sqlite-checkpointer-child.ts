// A process that checkpoints a WAL database over and over while others write it, for the capture
// tests: PASSIVE, FULL, RESTART and TRUNCATE in turn, each with a short busy timeout, a few
// milliseconds apart. Run as: node sqlite-checkpointer-child.ts <db>
//
// A RESTART or TRUNCATE that completes makes the next writer start the WAL over (new salts, frames
// from the start of the file; TRUNCATE also cuts the file to nothing). On SIGTERM it prints one
// line of JSON: per mode, how many checkpoints completed (busy = 0) and how many were held back.

import { DatabaseSync } from "node:sqlite";

const [file] = process.argv.slice(2);
if (!file) throw new Error("usage: sqlite-checkpointer-child.ts <db>");

const db = new DatabaseSync(file, { timeout: 50 });
const modes = ["PASSIVE", "FULL", "RESTART", "TRUNCATE"] as const;
const counts = Object.fromEntries(modes.map((m) => [m, { completed: 0, held: 0 }]));
let turn = 0;
let stopping = false;
process.on("SIGTERM", () => (stopping = true));

process.stdout.write("ready\n");
const loop = () => {
  if (stopping) {
    db.close();
    process.stdout.write(`${JSON.stringify(counts)}\n`, () => process.exit(0));
    return;
  }
  const mode = modes[turn++ % modes.length]!;
  try {
    const r = db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as { busy: number };
    counts[mode]![r.busy === 0 ? "completed" : "held"]++;
  } catch {
    counts[mode]!.held++; // SQLITE_BUSY past the timeout
  }
  setTimeout(loop, 2 + (turn % 7));
};
setTimeout(loop, 0);
