/**
 * A size given on the command line, in bytes: "500MB", "1.5GB", "4MB", "800KB" (powers of 1024), or
 * a bare number of MB. Throws on anything else, naming the text.
 */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB|K|M|G)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(text)} (e.g. 500MB, 1.5GB)`);
  const unit = (m[2] ?? "MB").toUpperCase()[0]!;
  const bytes = Math.round(Number(m[1]) * 1024 ** (unit === "K" ? 1 : unit === "M" ? 2 : 3));
  if (!(bytes > 0)) throw new Error(`size must be above zero: ${JSON.stringify(text)}`);
  return bytes;
}

/** The value after `--name` on the command line, or `dflt` when the flag is absent. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
