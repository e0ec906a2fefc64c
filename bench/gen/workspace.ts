// workspace/: the agent's Markdown files (AGENTS.md, SOUL.md, MEMORY.md, daily notes, project
// notes, skills) in a git repository with history, plus untracked attachments.

import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { git, gitCommitAll, gitInit } from "../lib/git.ts";
import type { Rng } from "../lib/rng.ts";
import { DAY_MS, writeAt } from "./plan.ts";
import { dateOnly, markdown, paragraph, sentence, word, words, PROJECTS } from "./text.ts";

const FIXED = ["AGENTS.md", "SOUL.md", "USER.md", "TOOLS.md", "IDENTITY.md", "HEARTBEAT.md", "MEMORY.md"];

export function listFiles(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (skip(rel)) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(rel);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function mdFiles(ws: string): string[] {
  return listFiles(ws, (rel) => rel === ".git" || rel.startsWith("attachments")).filter((f) => f.endsWith(".md"));
}

function attachment(rng: Rng): { name: string; bytes: Uint8Array } {
  const kind = rng.pick(["png", "jpg", "pdf", "png"]);
  const size = rng.size(kind === "pdf" ? 400_000 : 250_000, 0.8, 20_000, 4_000_000);
  const header = kind === "png" ? Buffer.from("89504e470d0a1a0a0000000d49484452", "hex") : kind === "jpg" ? Buffer.from("ffd8ffe000104a464946000101", "hex") : Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "latin1");
  return { name: `${word(rng)}-${rng.hex(6)}.${kind}`, bytes: Buffer.concat([header, rng.bytes(size)]) };
}

/** Create the workspace with about `textBytes` of Markdown (with history) and `attachBytes` of attachments. */
export function initWorkspace(ws: string, rng: Rng, textBytes: number, attachBytes: number, now: number): void {
  const start = now - 60 * DAY_MS;
  gitInit(ws, start);
  writeAt(join(ws, ".gitignore"), "attachments/\n.DS_Store\n*.tmp\n", start);
  writeAt(join(ws, "AGENTS.md"), markdown(rng, 5000, "AGENTS.md - Your Workspace"), start);
  writeAt(join(ws, "SOUL.md"), markdown(rng, 2500, "SOUL.md - Who You Are"), start);
  writeAt(join(ws, "USER.md"), markdown(rng, 1500, "USER.md - About Your Human"), start);
  writeAt(join(ws, "TOOLS.md"), markdown(rng, 3000, "TOOLS.md - Local Notes"), start);
  writeAt(join(ws, "IDENTITY.md"), markdown(rng, 600, "IDENTITY.md"), start);
  writeAt(join(ws, "HEARTBEAT.md"), markdown(rng, 800, "HEARTBEAT.md"), start);
  writeAt(join(ws, "MEMORY.md"), markdown(rng, Math.min(60_000, textBytes * 0.05), "MEMORY.md - Long-term memory"), start);
  gitCommitAll(ws, "Initial workspace", start);

  // Historical files, committed in batches over the previous 60 days, with some edits in between.
  const files: string[] = [];
  let written = 0;
  let commitAt = start;
  let batch = 0;
  let d = 0;
  while (written < textBytes) {
    const r = rng.int(10);
    let path: string;
    let size: number;
    if (r < 4) {
      path = `memory/${dateOnly(start + (d++ % 60) * DAY_MS)}${d > 60 ? `-${word(rng)}` : ""}.md`;
      size = rng.size(3500, 0.6, 400, 20_000);
    } else if (r < 7) {
      path = `projects/${rng.pick(PROJECTS)}/${rng.pick(["README", "notes", "tasks", "decisions", word(rng)])}.md`;
      size = rng.size(6000, 0.8, 400, 60_000);
    } else if (r < 9) {
      path = `notes/${word(rng)}-${word(rng)}.md`;
      size = rng.size(4000, 0.8, 300, 40_000);
    } else {
      path = `skills/${word(rng)}-${word(rng)}/SKILL.md`;
      size = rng.size(3000, 0.5, 500, 12_000);
    }
    if (existsSync(join(ws, path))) continue;
    const text = markdown(rng, size, path.split("/").pop()?.replace(/\.md$/, ""));
    writeAt(join(ws, path), text, commitAt);
    files.push(path);
    written += text.length;
    if (++batch >= 25) {
      batch = 0;
      commitAt += DAY_MS;
      for (let k = 0; k < 4 && files.length > 0; k++) editFile(join(ws, rng.pick(files)), rng, commitAt);
      gitCommitAll(ws, `${rng.pick(["notes", "memory", "projects"])}: ${sentence(rng).slice(0, 60)}`, commitAt);
    }
  }
  gitCommitAll(ws, "memory: catch up", commitAt);
  git(ws, ["gc", "-q"], commitAt);
  gitCommitAll(ws, "memory: end of day", now);

  let att = 0;
  while (att < attachBytes) {
    const a = attachment(rng);
    writeAt(join(ws, "attachments", a.name), a.bytes, now - rng.int(50) * DAY_MS);
    att += a.bytes.length;
  }
}

function editFile(path: string, rng: Rng, mtime: number): void {
  const lines = readFileSync(path, "utf8").split("\n");
  const r = rng.int(3);
  if (r === 0) lines.push("", ...paragraph(rng).split("\n"));
  else if (r === 1) lines.splice(rng.int(lines.length), 0, `- ${sentence(rng)}`, `- ${sentence(rng)}`);
  else lines.splice(rng.int(lines.length), Math.min(3, lines.length - 1), sentence(rng));
  writeAt(path, lines.join("\n"), mtime);
}

/** A day in the workspace: daily note, MEMORY.md and note edits, a new note, a deletion, commits. */
export function workspaceDay(ws: string, rng: Rng, dayMs: number): { changed: string[]; deleted: string[] } {
  const changed: string[] = [];
  const deleted: string[] = [];
  const commits = rng.range(1, 3);
  for (let c = 0; c < commits; c++) {
    const t = dayMs + (9 + c * 5 + rng.int(4)) * 3_600_000 + rng.int(3_600_000);
    const daily = join(ws, "memory", `${dateOnly(dayMs)}.md`);
    if (existsSync(daily)) editFile(daily, rng, t);
    else writeAt(daily, markdown(rng, rng.size(3000, 0.5, 500, 12_000), dateOnly(dayMs)), t);
    changed.push(relative(ws, daily));
    const mem = join(ws, "MEMORY.md");
    const memLines = readFileSync(mem, "utf8").split("\n");
    for (let i = rng.range(1, 4); i > 0; i--) memLines.splice(rng.int(memLines.length), 0, `- ${sentence(rng)}`);
    writeAt(mem, memLines.join("\n"), t);
    changed.push("MEMORY.md");
    const md = mdFiles(ws).filter((f) => !FIXED.includes(f));
    for (let i = rng.range(1, 3); i > 0 && md.length > 0; i--) {
      const f = rng.pick(md);
      editFile(join(ws, f), rng, t);
      changed.push(f);
    }
    if (rng.chance(0.4)) {
      const f = `notes/${word(rng)}-${words(rng, 1)}-${rng.hex(4)}.md`;
      writeAt(join(ws, f), markdown(rng, rng.size(3000, 0.7, 300, 20_000)), t);
      changed.push(f);
    }
    if (c === 0 && rng.chance(0.3) && md.length > 20) {
      const f = rng.pick(md.filter((x) => x.startsWith("notes/") || x.startsWith("projects/")));
      if (f) {
        rmSync(join(ws, f));
        deleted.push(f);
      }
    }
    gitCommitAll(ws, `${rng.pick(["memory", "notes", "projects"])}: ${sentence(rng).slice(0, 60)}`, t);
  }
  // Attachments: a new one most days; old ones cleaned up now and then.
  if (rng.chance(0.6)) {
    const a = attachment(rng);
    writeAt(join(ws, "attachments", a.name), a.bytes, dayMs + 12 * 3_600_000);
    changed.push(`attachments/${a.name}`);
  }
  if (rng.chance(0.2)) {
    const att = listFiles(join(ws, "attachments"));
    if (att.length > 5) {
      const victim = att.sort((a, b) => statSync(join(ws, "attachments", a)).mtimeMs - statSync(join(ws, "attachments", b)).mtimeMs || (a < b ? -1 : 1))[0];
      if (victim) {
        rmSync(join(ws, "attachments", victim));
        deleted.push(`attachments/${victim}`);
      }
    }
  }
  return { changed, deleted };
}
