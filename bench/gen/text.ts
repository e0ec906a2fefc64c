// Text that compresses like real chat and notes: English-like prose drawn from a Zipf-weighted
// vocabulary (common words plus invented names and jargon), Markdown, code, shell output and JSON.
// Not random bytes, not a few repeated sentences: zstd -3 gets roughly 2.5-3.5x on it, as on chat logs.

import type { Rng } from "../lib/rng.ts";

const COMMON = `the of and to a in is it you that he was for on are with as I his they be at one have
this from or had by not word but what some we can out other were all there when up use your how said
an each she which do their time if will way about many then them write would like so these her long
make thing see him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get place made live where
after back little only round man year came show every good me give our under name very through just
form sentence great think say help low line differ turn cause much mean before move right boy old too
same tell does set three want air well also play small end put home read hand port large spell add
even land here must big high such follow act why ask men change went light kind off need house picture
try us again animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye never last
let thought city tree cross farm hard start might story saw far sea draw left late run don't while press
close night real life few north open seem together next white children begin got walk example ease
paper group always music those both mark often letter until mile river car feet care second book carry
took science eat room friend began idea fish mountain stop once base hear horse cut sure watch color
face wood main enough plain girl usual young ready above ever red list though feel talk bird soon body
dog family direct pose leave song measure door product black short numeral class wind question happen
complete ship area half rock order fire south problem piece told knew pass since top whole king space
heard best hour better true during hundred five remember step early hold west ground interest reach
fast verb sing listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field
rest correct able pound done beauty drive stood contain front teach week final gave green oh quick
develop ocean warm free minute strong special mind behind clear tail produce fact street inch multiply
nothing course stay wheel full force blue object decide surface deep moon island foot system busy test
record boat common gold possible plane stead dry wonder laugh thousand ago ran check game shape equate
hot miss brought heat snow tire bring yes distant fill east paint language among`.split(/\s+/);

const TECH = `config gateway agent session token model prompt context memory embedding index query
database table column migration schema backup restore snapshot commit branch merge deploy server
client request response header payload webhook endpoint channel message thread reply attachment image
audio transcript summary compaction cron schedule reminder calendar event invoice email inbox draft
notes project deadline meeting review task todo bug fix feature release version build test lint
script shell command output error warning retry timeout latency cache cluster node container docker
kubernetes bucket upload download sync folder file path permission user account password key secret
oauth login logout device pairing plugin extension tool workspace repository diff patch log metric
dashboard alert threshold budget cost invoice receipt expense travel flight hotel booking itinerary
recipe grocery workout sleep habit journal weather forecast traffic news article paper research
dataset chart report spreadsheet slide document pdf markdown json yaml typescript python rust golang
function class method interface async await promise stream buffer array object string number boolean
null undefined import export module package dependency install update upgrade downgrade rollback`.split(/\s+/);

const SYLLABLES = "ka lo mi ra ten vel dor an is ur bel cor fin gar hol jun kev lar mor nel pri qua sel tor vin wex yar zol ath ber cal del eng fol gri hen ilm jor kas lin mun".split(" ");

export const FIRST_NAMES = "Alice Bruno Chen Dana Elif Farid Greta Hugo Ines Jonas Kenji Lena Mateo Nadia Omar Priya Quinn Rosa Sami Tomas Uma Viktor Wen Yara Zoe".split(" ");
const PLACES = "Lisbon Berlin Osaka Toronto Nairobi Lyon Porto Austin Seoul Oslo Denver Bergen Kyoto Quito".split(" ");
export const PROJECTS = "atlas harbor quill ember lumen orbit cedar falcon mosaic tundra beacon pebble".split(" ");

function buildVocab(): string[] {
  const words = [...COMMON, ...TECH];
  // A long tail of invented words (names, jargon, typos): built from a fixed generator so the
  // vocabulary is the same on every run.
  let x = 12345;
  const next = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  const seen = new Set(words);
  while (words.length < 6000) {
    const n = 2 + (next() % 3);
    let w = "";
    for (let i = 0; i < n; i++) w += SYLLABLES[next() % SYLLABLES.length];
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return words;
}

const VOCAB = buildVocab();
// Zipf(s≈1) over the vocabulary, sampled through a 64K lookup table: O(1) per word.
const TABLE = (() => {
  const weights = VOCAB.map((_, i) => 1 / (i + 2.7));
  const total = weights.reduce((a, b) => a + b, 0);
  const table = new Uint16Array(65536);
  let acc = 0;
  let j = 0;
  for (let i = 0; i < VOCAB.length; i++) {
    acc += (weights[i] ?? 0) / total;
    const upto = Math.min(65536, Math.round(acc * 65536));
    for (; j < upto; j++) table[j] = i;
  }
  for (; j < 65536; j++) table[j] = VOCAB.length - 1;
  return table;
})();

export function word(rng: Rng): string {
  return VOCAB[TABLE[rng.u32() & 0xffff] ?? 0] ?? "the";
}

export function words(rng: Rng, n: number): string {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = word(rng);
  return out.join(" ");
}

export function sentence(rng: Rng): string {
  const n = rng.range(5, 22);
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rng.u32() & 0xff;
    if (r < 3) parts[i] = rng.pick(FIRST_NAMES);
    else if (r < 5) parts[i] = String(rng.int(2000));
    else if (r < 6) parts[i] = rng.pick(PLACES);
    else parts[i] = word(rng);
    if (i < n - 1 && (rng.u32() & 0x1f) === 0) parts[i] += ",";
  }
  const s = parts.join(" ");
  const end = rng.pick([".", ".", ".", ".", "?", "!", ":"]);
  return s.charAt(0).toUpperCase() + s.slice(1) + end;
}

export function paragraph(rng: Rng, sentences = rng.range(2, 6)): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) out.push(sentence(rng));
  return out.join(" ");
}

/** Prose of about `chars` characters. */
export function prose(rng: Rng, chars: number): string {
  const out: string[] = [];
  let len = 0;
  while (len < chars) {
    const p = paragraph(rng);
    out.push(p);
    len += p.length + 2;
  }
  return out.join("\n\n");
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function dateOnly(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Markdown of about `chars` characters: headings, lists, paragraphs, the odd code block or table. */
export function markdown(rng: Rng, chars: number, title?: string): string {
  const out: string[] = [];
  let len = 0;
  if (title) out.push(`# ${title}\n`);
  while (len < chars) {
    const r = rng.int(10);
    let block: string;
    if (r < 2) block = `## ${capitalize(words(rng, rng.range(2, 5)))}\n`;
    else if (r < 5) {
      const items: string[] = [];
      for (let i = rng.range(2, 6); i > 0; i--) {
        const box = rng.chance(0.3) ? (rng.chance(0.5) ? "[x] " : "[ ] ") : "";
        items.push(`- ${box}${sentence(rng)}`);
      }
      block = items.join("\n") + "\n";
    } else if (r < 9) block = paragraph(rng) + "\n";
    else if (rng.chance(0.5)) block = "```" + rng.pick(["ts", "sh", "json", "py"]) + "\n" + code(rng, rng.range(3, 14)) + "\n```\n";
    else block = table(rng);
    out.push(block);
    len += block.length + 1;
  }
  return out.join("\n");
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function ident(rng: Rng): string {
  const a = word(rng).replace(/[^a-z]/gi, "") || "value";
  const b = word(rng).replace(/[^a-z]/gi, "") || "item";
  return rng.chance(0.5) ? a : a + capitalize(b);
}

export function code(rng: Rng, lines: number): string {
  const out: string[] = [];
  let indent = 0;
  for (let i = 0; i < lines; i++) {
    const pad = "  ".repeat(indent);
    const r = rng.int(12);
    if (r === 0 && indent < 3) {
      out.push(`${pad}${rng.pick(["function", "async function", "export function"])} ${ident(rng)}(${ident(rng)}, ${ident(rng)}) {`);
      indent++;
    } else if (r === 1 && indent < 3) {
      out.push(`${pad}if (${ident(rng)}.${ident(rng)} ${rng.pick(["===", "!==", ">", "<="])} ${rng.int(100)}) {`);
      indent++;
    } else if (r === 2 && indent > 0) {
      indent--;
      out.push(`${"  ".repeat(indent)}}`);
    } else if (r === 3) out.push(`${pad}// ${sentence(rng)}`);
    else if (r === 4) out.push(`${pad}return ${ident(rng)};`);
    else if (r === 5) out.push(`${pad}const ${ident(rng)} = await ${ident(rng)}.${ident(rng)}("${word(rng)}");`);
    else out.push(`${pad}${rng.pick(["const", "let"])} ${ident(rng)} = ${ident(rng)}(${ident(rng)}, ${rng.int(1000)});`);
  }
  while (indent-- > 0) out.push(`${"  ".repeat(indent)}}`);
  return out.join("\n");
}

function table(rng: Rng): string {
  const cols = rng.range(2, 4);
  const head = Array.from({ length: cols }, () => capitalize(word(rng)));
  const rows = [`| ${head.join(" | ")} |`, `|${" --- |".repeat(cols)}`];
  for (let r = rng.range(2, 6); r > 0; r--) {
    rows.push(`| ${Array.from({ length: cols }, () => (rng.chance(0.4) ? String(rng.int(5000)) : word(rng))).join(" | ")} |`);
  }
  return rows.join("\n") + "\n";
}

/** Output of a shell command an agent might run, about `chars` long. */
export function shellOutput(rng: Rng, chars: number, nowMs: number): { command: string; output: string } {
  const kind = rng.int(6);
  const lines: string[] = [];
  let command: string;
  let len = 0;
  const push = (l: string) => {
    lines.push(l);
    len += l.length + 1;
  };
  if (kind === 0) {
    command = `ls -la ${rng.pick(["~/projects", "./src", "/var/log", "~/.openclaw/workspace", "./docs"])}`;
    push(`total ${rng.int(900)}`);
    while (len < chars) {
      const dir = rng.chance(0.2);
      push(
        `${dir ? "drwxr-xr-x" : "-rw-r--r--"}  1 user  staff  ${String(rng.size(4000, 1.5, 64, 9e6)).padStart(8)} ${new Date(nowMs - rng.int(9e9)).toUTCString().slice(5, 22)} ${ident(rng)}${dir ? "" : rng.pick([".ts", ".md", ".json", ".log", ".py"])}`,
      );
    }
  } else if (kind === 1) {
    command = `git log --oneline -n ${rng.range(10, 40)}`;
    while (len < chars) push(`${rng.hex(7)} ${sentence(rng)}`);
  } else if (kind === 2) {
    command = `curl -s https://api.${word(rng)}.example.com/v1/${word(rng)}?limit=${rng.range(5, 50)}`;
    const items: string[] = [];
    while (len < chars) {
      const item = JSON.stringify({ id: rng.hex(12), name: words(rng, rng.range(1, 4)), status: rng.pick(["ok", "pending", "failed", "done"]), updated_at: isoTime(nowMs - rng.int(9e9)), score: Math.round(rng.next() * 1000) / 10, tags: [word(rng), word(rng)] });
      items.push(item);
      len += item.length + 1;
    }
    lines.push(`{"data":[${items.join(",")}],"next":null}`);
  } else if (kind === 3) {
    command = rng.pick(["npm test", "npm run build", "pytest -q", "cargo build"]);
    while (len < chars) {
      if (rng.chance(0.15)) push(`  ${rng.pick(["✓", "✓", "✓", "✗"])} ${sentence(rng)} (${rng.int(900)} ms)`);
      else push(`${rng.pick(["info", "warn", "debug"])}: ${sentence(rng)}`);
    }
  } else if (kind === 4) {
    command = `tail -n 200 ${rng.pick(["/var/log/syslog", "~/.openclaw/logs/gateway.log", "app.log"])}`;
    let t = nowMs - 3_600_000;
    while (len < chars) {
      t += rng.int(20_000);
      push(`${isoTime(t)} ${rng.pick(["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"])} [${word(rng)}] ${sentence(rng)} id=${rng.hex(8)}`);
    }
  } else {
    command = `cat ${rng.pick(["src", "lib", "scripts"])}/${ident(rng)}.${rng.pick(["ts", "py", "sh"])}`;
    push(code(rng, Math.max(3, Math.round(chars / 40))));
  }
  return { command, output: lines.join("\n") };
}
