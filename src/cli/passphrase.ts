import * as fs from "node:fs/promises";
import { UsageError } from "../errors.ts";

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the prompt shows, so nothing typed (or pasted) right after it is echoed.
  stdin.setRawMode?.(true);
  process.stderr.write(question);
  stdin.resume();
  stdin.setEncoding("utf8");
  return new Promise((resolve, reject) => {
    let value = "";
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") {
          done();
          resolve(value);
          return;
        }
        if (ch === "\u0003") {
          done();
          reject(new UsageError("cancelled at the passphrase prompt"));
          return;
        }
        if (ch === "\u007f") value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off("data", onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    stdin.on("data", onData);
  });
}

/**
 * The passphrase, from (in order) a file, the first of `envNames` that is set, or a prompt when
 * stdin is a terminal. Trailing newlines of a file are dropped.
 */
export async function readPassphrase(opts: { file?: string; envNames: string[]; env: NodeJS.ProcessEnv; prompt: string; confirm?: boolean }): Promise<string> {
  if (opts.file) {
    const text = await fs.readFile(opts.file, "utf8").catch(() => {
      throw new UsageError(`cannot read passphrase file ${opts.file}`);
    });
    return text.replace(/\r?\n$/, "");
  }
  const fromEnv = opts.envNames.map((name) => opts.env[name]).find((v) => v);
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY) throw new UsageError(`no passphrase: set ${opts.envNames.join(" or ")}, pass --passphrase-file, or run on a terminal`);
  const first = await promptHidden(opts.prompt);
  if (opts.confirm && (await promptHidden("again: ")) !== first) throw new UsageError("the passphrases did not match");
  return first;
}
