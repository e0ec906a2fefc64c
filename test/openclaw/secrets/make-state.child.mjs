// Creates OpenClaw's global and agent databases with OpenClaw's own code (the installed
// openclaw's dist), in a process of their own: run with OPENCLAW_STATE_DIR and HOME set.
// OpenClaw 2026.9.6 exports no API for this, so the functions are found in its bundled files by
// their source names; an upgrade that renames them fails here, loudly.
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

const dist = process.argv[2];
const agentIds = process.argv.slice(3);

async function load(fnName) {
  for (const name of fs.readdirSync(dist)) {
    if (!name.endsWith(".mjs")) continue;
    const file = path.join(dist, name);
    const text = fs.readFileSync(file, "utf8");
    if (!text.includes(`\nfunction ${fnName}(`)) continue;
    const exported = /\nexport \{([^}]*)\};?\s*$/.exec(text);
    const alias = exported?.[1].split(",").map((s) => s.trim().split(/\s+as\s+/)).find(([local]) => local === fnName)?.[1];
    if (!alias) continue; // a bundle with its own private copy
    return (await import(pathToFileURL(file).href))[alias];
  }
  throw new Error(`${fnName} not found in ${dist}`);
}

const openState = await load("openOpenClawStateDatabase");
const closeState = await load("closeOpenClawStateDatabase");
const openAgent = await load("openOpenClawAgentDatabase");
const closeAgents = await load("closeOpenClawAgentDatabasesForTest");
openState({ env: process.env });
for (const agentId of agentIds) openAgent({ agentId, env: process.env });
closeAgents();
closeState({ env: process.env });
