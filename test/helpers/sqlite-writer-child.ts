// A second process that writes an SQLite database the way a live application does, for the
// capture tests. Run as: node sqlite-writer-child.ts <db> <mode>
//
//   write        WAL mode; transactions back to back until SIGTERM. Each one bumps the counter row
//                (n), inserts 1 + n % 7 rows tagged tx = n, rewrites a few older rows, moves money
//                between accounts, and every tenth one deletes the rows of an older transaction
//                (recorded in `deleted`). The counter row also carries the row count and the sum
//                of payload lengths, so any committed state satisfies the invariants that
//                checkWriterInvariants (sqlite-writer.ts) checks, and a torn copy does not.
//   hold-wal     WAL mode; commits some transactions, then keeps a write transaction open with
//                uncommitted rows until SIGTERM.
//   hold-rollback  rollback-journal mode; keeps an EXCLUSIVE lock (a pending write) until SIGTERM.
//   idle-wal     WAL mode; commits some transactions, then keeps the connection open, idle (the
//                frames stay in the -wal, none checkpointed) until SIGTERM.
//
// Prints "ready <n>" once the schema and the first transactions are committed, and then
// "n <n>" every 50 transactions.
//
// An optional third argument <paceMs> (mode write only) makes the writer steady instead of as fast
// as it can: one transaction every paceMs, each deleting the rows of the transaction five back, so
// the database keeps its size however long it runs (the crash-consistency torture writes it for
// an hour).

import { DatabaseSync } from "node:sqlite";

const [file, mode = "write", pace] = process.argv.slice(2);
const paceMs = pace === undefined ? undefined : Number(pace);
if (!file) throw new Error("usage: sqlite-writer-child.ts <db> [write|hold-wal|idle-wal|hold-rollback]");

const db = new DatabaseSync(file, { timeout: 5_000 });
db.exec(`PRAGMA journal_mode = ${mode === "hold-rollback" ? "DELETE" : "WAL"}`);
db.exec(`
  CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL, total INTEGER NOT NULL, bytes INTEGER NOT NULL);
  INSERT OR IGNORE INTO counter VALUES (1, 0, 0, 0);
  CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, touched INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS rows_tx ON rows (tx);
  CREATE TABLE IF NOT EXISTS deleted (tx INTEGER PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
`);
if (Number(db.prepare("SELECT count(*) AS c FROM accounts").get()?.c) === 0) {
  db.exec("BEGIN");
  const add = db.prepare("INSERT INTO accounts VALUES (?, 1000)");
  for (let i = 1; i <= 100; i++) add.run(i);
  db.exec("COMMIT");
}

let seed = 12345;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};
const payload = (tx: number) => `tx${tx}:` + "abcdefghij".repeat(10 + rand(300));

const getCounter = db.prepare("SELECT n, total, bytes FROM counter WHERE id = 1");
const setCounter = db.prepare("UPDATE counter SET n = ?, total = ?, bytes = ? WHERE id = 1");
const insert = db.prepare("INSERT INTO rows (tx, payload) VALUES (?, ?)");
const pickRow = db.prepare("SELECT id, payload FROM rows WHERE id >= ? ORDER BY id LIMIT 1");
const maxRow = db.prepare("SELECT max(id) AS m FROM rows");
const touch = db.prepare("UPDATE rows SET touched = ?, payload = ? WHERE id = ?");
const rowsOf = db.prepare("SELECT count(*) AS c, coalesce(sum(length(payload)), 0) AS b FROM rows WHERE tx = ?");
const deleteTx = db.prepare("DELETE FROM rows WHERE tx = ?");
const markDeleted = db.prepare("INSERT INTO deleted VALUES (?)");
const move = db.prepare("UPDATE accounts SET balance = balance + ? WHERE id = ?");

/** One transaction's statements (the caller begins and commits). */
function work(): number {
  const c = getCounter.get() as { n: number; total: number; bytes: number };
  const n = c.n + 1;
  let total = c.total;
  let bytes = c.bytes;
  const k = 1 + (n % 7);
  for (let i = 0; i < k; i++) {
    const p = payload(n);
    insert.run(n, p);
    total++;
    bytes += p.length;
  }
  const max = Number(maxRow.get()?.m ?? 0);
  for (let i = 0; i < 3 && max > 0; i++) {
    const row = pickRow.get(1 + rand(max)) as { id: number; payload: string } | undefined;
    if (!row) continue;
    const p = payload(n);
    touch.run(n, p, row.id);
    bytes += p.length - row.payload.length;
  }
  if ((paceMs !== undefined || n % 10 === 0) && n > 5) {
    const victim = n - 5;
    const gone = rowsOf.get(victim) as { c: number; b: number };
    deleteTx.run(victim);
    markDeleted.run(victim);
    total -= gone.c;
    bytes -= gone.b;
  }
  const amount = 1 + rand(50);
  const from = 1 + rand(100);
  const to = 1 + rand(100);
  move.run(-amount, from);
  move.run(amount, to);
  setCounter.run(n, total, bytes);
  return n;
}

function commitOne(): number {
  db.exec("BEGIN IMMEDIATE");
  try {
    const n = work();
    db.exec("COMMIT");
    return n;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
  if (mode !== "write") {
    try {
      db.exec("ROLLBACK");
    } catch {
      // nothing open
    }
    db.close();
    process.exit(0);
  }
});

let n = 0;
for (let i = 0; i < 20; i++) n = commitOne();

if (mode === "hold-wal") {
  db.exec("BEGIN IMMEDIATE");
  work();
  work();
  process.stdout.write(`ready ${n}\n`);
  setInterval(() => {}, 1_000);
} else if (mode === "idle-wal") {
  process.stdout.write(`ready ${n}\n`);
  setInterval(() => {}, 1_000);
} else if (mode === "hold-rollback") {
  db.exec("BEGIN EXCLUSIVE");
  work();
  process.stdout.write(`ready ${n}\n`);
  setInterval(() => {}, 1_000);
} else {
  process.stdout.write(`ready ${n}\n`);
  const loop = () => {
    if (stopping) {
      db.close();
      process.exit(0);
    }
    for (let i = 0; i < (paceMs === undefined ? 10 : 1); i++) {
      n = commitOne();
      if (n % 50 === 0) process.stdout.write(`n ${n}\n`);
    }
    if (paceMs === undefined) setImmediate(loop);
    else setTimeout(loop, paceMs);
  };
  setImmediate(loop);
}
