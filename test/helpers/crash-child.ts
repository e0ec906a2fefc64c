// A child process that gets into a state a crash would leave behind, says so on stdout ("ready"),
// then waits to be SIGKILLed by the test (see startCrashChild in killed-child.ts).
//   lock <repo folder> <passphrase> <exclusive|shared>: holds a repository lock
//   scratch: holds a commit's scratch folder (with a file in it) in /dev/shm or TMPDIR
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { LocalBackend } from "../../src/storage/local.ts";
import { acquireLock } from "../../src/repo/lock.ts";
import { deriveKeys } from "../../src/crypto/keys.ts";
import { parseKeyFile, unwrapMasterKey } from "../../src/crypto/keyfile.ts";
import { makeScratchDir } from "../../src/engine/sqlite/scratch-dir.ts";

const [mode, ...args] = process.argv.slice(2);
if (mode === "lock") {
  const [repoDir, passphrase, kind] = args as [string, string, string];
  const keyName = (await fs.readdir(path.join(repoDir, "keys")))[0]!;
  const master = await unwrapMasterKey(parseKeyFile(keyName, await fs.readFile(path.join(repoDir, "keys", keyName))), passphrase);
  await acquireLock(new LocalBackend(repoDir), deriveKeys(master!), kind === "exclusive", "commit");
  process.stdout.write("ready\n");
} else if (mode === "scratch") {
  const scratch = await makeScratchDir(1024);
  await fs.writeFile(path.join(scratch.first, "copy.sqlite"), "plaintext database copy");
  process.stdout.write(`ready ${scratch.first}\n`);
} else {
  throw new Error(`unknown mode ${mode}`);
}
setInterval(() => {}, 60_000);
