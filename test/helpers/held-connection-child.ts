// A process that has a live WAL database open through SQLite (as the plugin's engine child may,
// while restoring) and then asks the engine to read the same database in place, for the
// live-connections test. Run as: node held-connection-child.ts <db>
// Prints one line of JSON, { fallback } or { inPlace: true }, then keeps its connection open until
// its standard input closes.

import { openLiveDatabase } from "../../src/lib.ts";
import { openWalCapture } from "../../src/engine/sqlite/wal-capture.ts";

const [file] = process.argv.slice(2);
if (!file) throw new Error("usage: held-connection-child.ts <db>");

const db = openLiveDatabase(file, file, { timeout: 2_000 });
db.prepare("SELECT count(*) FROM rows").get();
const result = await openWalCapture(file);
if ("capture" in result) {
  for await (const group of result.capture.groups(1)) void group;
  await result.capture.release();
}
console.log(JSON.stringify("capture" in result ? { inPlace: true } : { fallback: result.fallback }));
process.stdin.resume();
process.stdin.on("end", () => {
  db.close();
  process.exit(0);
});
