// A second process that keeps SQLite connections open on live databases, as a running gateway
// does, and answers queries through them: it shows what the gateway's own connections see after a
// restore wrote into the files, without reopening them. `lock` takes a database's write lock and
// holds it (a writer mid-transaction) until `unlock`.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

const SCRIPT = `
import { DatabaseSync } from "node:sqlite";
import { createInterface } from "node:readline";
const dbs = process.argv.slice(1).map((f) => { const d = new DatabaseSync(f, { timeout: 100 }); d.exec("PRAGMA journal_mode = WAL"); return d; });
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const { i, op, sql } = JSON.parse(line);
  try {
    if (op === "lock") dbs[i].exec("BEGIN IMMEDIATE");
    else if (op === "unlock") dbs[i].exec("ROLLBACK");
    else if (op === "exec") dbs[i].exec(sql);
    else { process.stdout.write(JSON.stringify({ ok: dbs[i].prepare(sql).all() }) + "\\n"); return; }
    process.stdout.write(JSON.stringify({ ok: null }) + "\\n");
  } catch (err) { process.stdout.write(JSON.stringify({ error: String(err.message) }) + "\\n"); }
});
process.stdout.write(JSON.stringify({ ready: true }) + "\\n");
`;

export interface DbHolder {
  query(i: number, sql: string): Promise<Record<string, unknown>[]>;
  exec(i: number, sql: string): Promise<void>;
  lock(i: number): Promise<void>;
  unlock(i: number): Promise<void>;
  stop(): Promise<void>;
}

export async function holdDatabases(files: string[]): Promise<DbHolder> {
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", SCRIPT, ...files], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const queue: ((v: { ok?: unknown; error?: string; ready?: boolean }) => void)[] = [];
  lines.on("line", (l) => queue.shift()?.(JSON.parse(l)));
  await new Promise((resolve) => queue.push(resolve));
  const call = (msg: object): Promise<unknown> =>
    new Promise((resolve, reject) => {
      queue.push((r) => (r.error ? reject(new Error(r.error)) : resolve(r.ok)));
      child.stdin!.write(JSON.stringify(msg) + "\n");
    });
  return {
    query: async (i, sql) => (await call({ i, op: "query", sql })) as Record<string, unknown>[],
    exec: async (i, sql) => void (await call({ i, op: "exec", sql })),
    lock: async (i) => void (await call({ i, op: "lock" })),
    unlock: async (i) => void (await call({ i, op: "unlock" })),
    async stop() {
      child.stdin!.end();
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}
