import { realpathSync } from "node:fs";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ClawbackError, PathError, UsageError } from "../errors.ts";
import { Repository } from "../engine/repository.ts";
import type { RetentionPolicy } from "../engine/types.ts";
import type { LockInfo } from "../repo/lock.ts";
import { readPassphrase } from "./passphrase.ts";
import { ProgressLine } from "./progress.ts";
import { b2TransactionClasses, emptyCounts, type Backend, type RequestCounts } from "../storage/backend.ts";
import { changeLine, requestsLine, entryLine, formatBytes, formatDuration, shortId, snapshotDetails, snapshotLine } from "./format.ts";

export const USAGE = `usage: clawback <command> [options]

commands:
  init                               create a repository
  commit <dir>                       snapshot a folder   [--reason R] [--tag T]... [--exclude PATTERN]... [--host H]
  log                                list snapshots
  show <snapshot>                    one snapshot's details
  ls <snapshot> [path]               files in a snapshot
  diff <snapshot> <snapshot|dir>     what changed
  checkout <snapshot> <dir>          restore              [--path P]... [--no-safety]
  recover <dir>                      finish or undo a checkout into dir that was interrupted (no --repo needed)
  forget [snapshot...]               remove snapshots     [--keep-last N] [--keep-daily N] [--keep-weekly N] [--dry-run] [--prune]
  prune                              delete data no snapshot needs [--dry-run]
  check                              verify the repository [--read-data] [--read-data-subset n/m|p%]
  stats                              sizes and dedup ratio
  key add|list|remove [id]           manage passphrases  [--new-passphrase-file F]
  unlock                             remove locks left by processes that are gone [--remove-all]

a snapshot is named by its id, a unique id prefix, 'latest' or 'latest~N'.

options:
  --repo URL               file:///path, a plain path, s3://bucket/prefix or b2://bucket/prefix
                           (default: $CLAWBACK_REPOSITORY)
  --passphrase-file F      read the passphrase from F (default: $CLAWBACK_PASSPHRASE, else a prompt)
  --cache-dir DIR          where the local index cache lives
  --json                   machine-readable output on stdout
  --debug                  stack traces on errors
  --requests               print the storage requests the command made (and B2's classes) on stderr
`;

const OPTIONS = {
  repo: { type: "string" },
  "passphrase-file": { type: "string" },
  "new-passphrase-file": { type: "string" },
  "cache-dir": { type: "string" },
  json: { type: "boolean" },
  debug: { type: "boolean" },
  requests: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  reason: { type: "string" },
  tag: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  host: { type: "string" },
  path: { type: "string", multiple: true },
  "no-safety": { type: "boolean" },
  "keep-last": { type: "string" },
  "keep-daily": { type: "string" },
  "keep-weekly": { type: "string" },
  "dry-run": { type: "boolean" },
  prune: { type: "boolean" },
  "read-data": { type: "boolean" },
  "read-data-subset": { type: "string" },
  "remove-all": { type: "boolean" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

export interface CliIo {
  stdout: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  stderr: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Cancels commit, checkout and prune (they stop, release their lock and remove their temporary files). */
  signal?: AbortSignal;
}

/** Exit codes: 0 ok; 1 other error; 2 usage; 3 wrong passphrase; 4 no/unsupported repository; 5 unknown snapshot; 6 missing object; 7 integrity; 8 storage; 9 locked; 10 bad path (also a checkout target holding the repository or cache, a name too long, a swap that cannot be recovered); 11 unsafe path; 12 done with warnings (some files not stored); 130 interrupted. */
export async function main(argv: string[], io?: CliIo): Promise<number> {
  if (io) return runMain(argv, io);
  // The real process: during commit, checkout or prune, the first Ctrl-C (or SIGTERM) cancels the
  // operation cleanly, so no lock (which would hold off other machines' prunes for 30 minutes) or staging folder is
  // left behind; a second one, or one during any other command, ends the process at once.
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted || cancellable === 0) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await runMain(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** How many operations that honour the abort signal are running (commit, checkout, prune). */
let cancellable = 0;

async function cancellably<T>(work: () => Promise<T>): Promise<T> {
  cancellable++;
  try {
    return await work();
  } finally {
    cancellable--;
  }
}

async function runMain(argv: string[], io: CliIo): Promise<number> {
  let debug = argv.includes("--debug");
  try {
    const { values, positionals } = parseCli(argv);
    debug = Boolean(values.debug);
    const [command, ...args] = positionals;
    if (values.help || command === "help") {
      io.stdout.write(USAGE);
      return 0;
    }
    if (!command) {
      io.stderr.write(USAGE);
      return 2;
    }
    return await run(command, args, values, io);
  } catch (err) {
    if (err instanceof ClawbackError) {
      io.stderr.write(`clawback: ${err.message}\n`);
      if (debug) io.stderr.write(`${err.stack}\n`);
      return err.exitCode;
    }
    io.stderr.write(`clawback: ${(err as Error)?.message ?? String(err)}\n`);
    if (debug) io.stderr.write(`${(err as Error)?.stack}\n`);
    return 1;
  }
}

function parseCli(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util's message goes on to explain '--' for positionals that start with '-'; keep the first sentence.
    const first = (err as Error).message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "");
    throw new UsageError(`${first} (see 'clawback --help')`);
  }
}

function arity(command: string, args: string[], min: number, max = min): void {
  if (args.length < min || args.length > max) throw new UsageError(`'${command}' takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? "" : "s"}, got ${args.length} (see 'clawback --help')`);
}

function count(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} takes a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

async function openRepo(values: Values, io: CliIo, used: Backend[], create = false): Promise<Repository> {
  const url = values.repo ?? io.env.CLAWBACK_REPOSITORY;
  if (!url) throw new UsageError("no repository: pass --repo URL or set CLAWBACK_REPOSITORY");
  // A b2:// repository's default passphrase is the B2 application key (what the plugin uses when
  // configured with only keyId, applicationKey and bucket), so the CLI opens it with the same env.
  const envNames = ["CLAWBACK_PASSPHRASE", ...(url.startsWith("b2://") ? ["B2_APPLICATION_KEY"] : [])];
  const passphrase = await readPassphrase({ ...(values["passphrase-file"] ? { file: values["passphrase-file"] } : {}), envNames, env: io.env, prompt: "passphrase: ", confirm: create });
  // Every backend the command opens is kept, so --requests counts them all: init opens two, and
  // an open that fails leaves no repository to ask.
  const wrapBackend = (backend: Backend) => (used.push(backend), backend);
  const opts = { passphrase, backendOptions: { env: io.env }, wrapBackend, ...(values["cache-dir"] ? { cacheDir: values["cache-dir"] } : {}) };
  return create ? Repository.init(url, opts) : Repository.open(url, opts);
}

async function run(command: string, args: string[], values: Values, io: CliIo): Promise<number> {
  const used: Backend[] = [];
  try {
    return await runCommand(command, args, values, io, used);
  } finally {
    if (values.requests) io.stderr.write(`${requestsLine(sumCounts(used.map((b) => b.counts())))}\n`);
  }
}

function sumCounts(all: RequestCounts[]): RequestCounts {
  const total = emptyCounts();
  for (const c of all) for (const k of Object.keys(total) as (keyof RequestCounts)[]) total[k] += c[k];
  return total;
}

async function runCommand(command: string, args: string[], values: Values, io: CliIo, used: Backend[]): Promise<number> {
  const json = Boolean(values.json);
  const out = (human: string, data: unknown) => io.stdout.write(json ? `${JSON.stringify(data, null, 1)}\n` : human.endsWith("\n") || human === "" ? human : `${human}\n`);
  const known = ["init", "commit", "log", "show", "ls", "diff", "checkout", "recover", "forget", "prune", "check", "stats", "key", "unlock"];
  if (!known.includes(command)) throw new UsageError(`unknown command '${command}' (see 'clawback --help')`);

  if (command === "recover") {
    arity(command, args, 1);
    const r = await Repository.recover(args[0]!);
    const what = {
      none: `${r.target}: no interrupted checkout`,
      finished: `${r.target}: an interrupted checkout was finished; the restored snapshot is in place`,
      undone: `${r.target}: an interrupted checkout was undone; the folder is as it was`,
      "restored-old": `${r.target}: the folder's previous content was put back`,
    }[r.swap];
    out([what, ...r.removed.map((p) => `removed ${p}`)].join("\n"), r);
    return 0;
  }

  if (command === "init") {
    arity(command, args, 0);
    const repo = await openRepo(values, io, used, true);
    out(`created repository ${shortId(repo.id)} at ${repo.location}`, { id: repo.id, location: repo.location });
    await repo.close();
    return 0;
  }

  // A commit's walk needs no key: it runs while the repository opens (scrypt, on the thread pool).
  const scan = command === "commit" && args.length === 1 ? Repository.scan(args[0]!, { excludes: values.exclude ?? [] }) : undefined;
  const repo = await openRepo(values, io, used);
  const progress = new ProgressLine(io.stderr as NodeJS.WriteStream, !json);
  try {
    switch (command) {
      case "commit": {
        arity(command, args, 1);
        const result = await cancellably(() => repo.commit(args[0]!, {
          ...(values.reason ? { reason: values.reason } : {}),
          ...(values.tag ? { tags: values.tag } : {}),
          ...(values.exclude ? { excludes: values.exclude } : {}),
          ...(values.host ? { host: values.host } : {}),
          ...(io.signal ? { signal: io.signal } : {}),
          ...(scan ? { scan } : {}),
          progress,
        }));
        progress.clear();
        const s = result.snapshot.stats;
        out(
          `snapshot ${shortId(result.snapshot.id)} saved: ${s.files} files, ${formatBytes(s.bytes)}; added ${formatBytes(s.addedBytes)} (${s.filesRead} files read) in ${formatDuration(s.durationMs)}` +
            (result.warnings.length ? `\n${result.warnings.length} files not stored (see warnings above)` : ""),
          result,
        );
        return result.warnings.length ? 12 : 0;
      }
      case "log": {
        arity(command, args, 0);
        const snaps = await repo.log();
        out(snaps.length ? snaps.map(snapshotLine).join("\n") : "no snapshots", snaps);
        return 0;
      }
      case "show": {
        arity(command, args, 1);
        const s = await repo.show(args[0]!);
        out(snapshotDetails(s), s);
        return 0;
      }
      case "ls": {
        arity(command, args, 1, 2);
        const entries = await repo.ls(args[0]!, args[1]);
        out(entries.map(entryLine).join("\n"), entries);
        return 0;
      }
      case "diff": {
        arity(command, args, 2);
        const b = args[1]!;
        const isDir = (await stat(b).catch(() => undefined))?.isDirectory() === true;
        // A snapshot name never contains a slash: anything that looks like a path is a folder.
        if (!isDir && (b.includes("/") || b === "." || b === "..")) throw new PathError(b, "no such folder to compare with");
        const changes = await repo.diff(args[0]!, isDir ? { dir: b } : b);
        out(changes.length ? changes.map(changeLine).join("\n") : "no changes", changes);
        return 0;
      }
      case "checkout": {
        arity(command, args, 2);
        const result = await cancellably(() => repo.checkout(args[0]!, args[1]!, {
          ...(values.path ? { paths: values.path } : {}),
          safetySnapshot: !values["no-safety"],
          ...(io.signal ? { signal: io.signal } : {}),
          progress,
        }));
        progress.clear();
        out(
          `restored snapshot ${shortId(result.snapshot)}: ${result.files} files, ${formatBytes(result.bytes)} into ${args[1]}` +
            (result.safetySnapshot ? `\nthe previous content is in safety snapshot ${shortId(result.safetySnapshot)}` : ""),
          result,
        );
        return 0;
      }
      case "forget": {
        const policy: RetentionPolicy = {};
        const last = count("keep-last", values["keep-last"]);
        const daily = count("keep-daily", values["keep-daily"]);
        const weekly = count("keep-weekly", values["keep-weekly"]);
        if (last !== undefined) policy.keepLast = last;
        if (daily !== undefined) policy.keepDaily = daily;
        if (weekly !== undefined) policy.keepWeekly = weekly;
        const hasPolicy = Object.keys(policy).length > 0;
        if (hasPolicy && args.length) throw new UsageError("give snapshot ids or a retention policy, not both");
        const result = hasPolicy ? await repo.forgetByPolicy(policy, { dryRun: Boolean(values["dry-run"]) }) : await repo.forget(args);
        const verb = values["dry-run"] ? "would remove" : "removed";
        let text = `${verb} ${result.removed.length} snapshots, kept ${result.kept.length}`;
        let pruned;
        if (values.prune && !values["dry-run"]) {
          pruned = await cancellably(() => repo.prune({ ...(io.signal ? { signal: io.signal } : {}) }));
          text += `\npruned: ${pruned.packsDeleted} packs deleted, ${pruned.packsRepacked} repacked${partialsNote(pruned.partialWritesDeleted)}, ${formatBytes(pruned.bytesFreed)} freed`;
        }
        out(text, { ...result, ...(pruned ? { prune: pruned } : {}) });
        return 0;
      }
      case "prune": {
        arity(command, args, 0);
        const r = await cancellably(() => repo.prune({ dryRun: Boolean(values["dry-run"]), ...(io.signal ? { signal: io.signal } : {}) }));
        out(`${values["dry-run"] ? "would delete" : "deleted"} ${r.packsDeleted} packs, repacked ${r.packsRepacked}${partialsNote(r.partialWritesDeleted)}, ${formatBytes(r.bytesFreed)} freed`, r);
        return 0;
      }
      case "check": {
        arity(command, args, 0);
        const r = await repo.check({ readData: Boolean(values["read-data"]), ...(values["read-data-subset"] ? { readDataSubset: values["read-data-subset"] } : {}), progress });
        progress.clear();
        const lines = [...r.errors.map((e) => `error: ${e}`), ...r.warnings.map((w) => `warning: ${w}`), r.ok ? `no errors found (${r.packsRead} packs read)` : `${r.errors.length} errors found`];
        out(lines.join("\n"), r);
        return r.ok ? 0 : 7;
      }
      case "stats": {
        arity(command, args, 0);
        const s = await repo.stats();
        const c = repo.requestCounts();
        out(
          [
            `snapshots     ${s.snapshots}`,
            `logical size  ${formatBytes(s.logicalBytes)} (all snapshots, as whole copies)`,
            `stored size   ${formatBytes(s.storedBytes)} (${s.packs} packs, ${s.blobs} blobs)`,
            `dedup ratio   ${s.dedupRatio.toFixed(2)}x`,
          ].join("\n"),
          { ...s, requests: { ...c, b2: b2TransactionClasses(c) } },
        );
        return 0;
      }
      case "key":
        return await keyCommand(repo, args, values, io, out);
      case "unlock": {
        arity(command, args, 0);
        const all = Boolean(values["remove-all"]);
        if (all) io.stderr.write("warning: removing every lock, also those of commits and prunes that may be running on other machines; a prune that runs beside a commit can delete data the commit needs\n");
        const r = await repo.unlock({ all });
        const lockLine = (l: LockInfo) => `${l.key}: ${l.purpose}, pid ${l.pid} on ${l.host} since ${l.time}${l.stale ? ` (${l.stale})` : ""}`;
        out(
          [
            ...r.removed.map((l) => `removed ${lockLine(l)}`),
            ...(all ? r.unreadable.map((k) => `removed ${k} (unreadable)`) : []),
            ...r.kept.map((l) => `kept ${lockLine(l)}: its process may still be running (--remove-all removes it)`),
            `${r.removed.length + (all ? r.unreadable.length : 0)} locks removed, ${r.kept.length} kept`,
          ].join("\n"),
          r,
        );
        return 0;
      }
    }
    return 0;
  } finally {
    progress.clear();
    await repo.close();
  }
}

function partialsNote(n: number): string {
  return n > 0 ? `, ${n} partial writes of interrupted commands removed` : "";
}

async function keyCommand(repo: Repository, args: string[], values: Values, io: CliIo, out: (h: string, d: unknown) => void): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "list") {
    const keys = await repo.listKeys();
    out(keys.map((k) => `${k.current ? "*" : " "} ${shortId(k.id)}  ${k.created}  ${k.host}`).join("\n"), keys);
    return 0;
  }
  if (sub === "add") {
    const passphrase = await readPassphrase({ ...(values["new-passphrase-file"] ? { file: values["new-passphrase-file"] } : {}), envNames: ["CLAWBACK_NEW_PASSPHRASE"], env: io.env, prompt: "new passphrase: ", confirm: true });
    const id = await repo.addKey(passphrase);
    out(`added key ${shortId(id)}`, { id });
    return 0;
  }
  if (sub === "remove" && rest.length === 1) {
    // Resolve the prefix first so the output names the whole id of the key file removed.
    const id = (await repo.listKeys()).find((k) => k.id.startsWith(rest[0]!))?.id ?? rest[0]!;
    await repo.removeKey(rest[0]!);
    out(`removed key ${shortId(id)}`, { removed: id });
    return 0;
  }
  throw new UsageError("usage: clawback key list | key add | key remove <id>");
}

/** True when this module is the process's entry point, however it was named (a symlink, spaces, %). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// Run when executed directly (node src/cli/main.ts); bin/clawback.js imports main() from dist.
if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
