// Child process for memory.test.ts: commits then checks out one folder, printing its peak RSS.
import * as path from "node:path";
import { Repository } from "../../src/engine/repository.ts";

const [src, base] = process.argv.slice(2) as [string, string];
const repo = await Repository.init(path.join(base, "repo"), { passphrase: "memory test", cacheDir: path.join(base, "cache"), scrypt: { N: 2 ** 14, r: 8, p: 1 } });
let peak = 0;
const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
await repo.commit(src);
const commitPeak = Math.max(peak, process.memoryUsage().rss);
peak = 0;
await repo.checkout("latest", path.join(base, "out"), { safetySnapshot: false });
const checkoutPeak = Math.max(peak, process.memoryUsage().rss);
clearInterval(sample);
await repo.close();
process.stdout.write(JSON.stringify({ commitMb: commitPeak / 2 ** 20, checkoutMb: checkoutPeak / 2 ** 20 }));
