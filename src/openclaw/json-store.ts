// A small JSON file of the plugin's own in <state>/clawback/ (never a database; backups leave the
// folder out): read whole, changed, and replaced whole by a rename, one change at a time.
import * as fs from "node:fs/promises";
import * as path from "node:path";

export class JsonFileStore<T extends object> {
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string, name: string) {
    this.file = path.join(stateDir, "clawback", name);
  }

  /** The stored object; an empty one when the file is missing or unreadable (it is only a record). */
  async read(): Promise<Partial<T>> {
    try {
      return JSON.parse(await fs.readFile(this.file, "utf8")) as Partial<T>;
    } catch {
      return {};
    }
  }

  /** Applies `change` to the stored object (writes are serialized, each replaces the file whole). */
  update(change: (s: Partial<T>) => void): Promise<void> {
    this.writing = this.writing.then(async () => {
      const s = await this.read();
      change(s);
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(s, null, 2));
      await fs.rename(tmp, this.file);
    });
    return this.writing.catch(() => {});
  }
}
