// Deterministic git: fixed identities and dates, no user or system config, single-threaded packing;
// and a rewrite of `.git/index` that drops the stat fields (ctime, device, inode) that differ on
// every run, so the same operations give the same bytes.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const EMPTY_HOME = join(tmpdir(), "clawback-bench-git-home");

function gitEnv(dateMs: number): NodeJS.ProcessEnv {
  if (!existsSync(EMPTY_HOME)) mkdirSync(EMPTY_HOME, { recursive: true });
  const date = `${Math.floor(dateMs / 1000)} +0000`;
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: EMPTY_HOME,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "Claw",
    GIT_AUTHOR_EMAIL: "claw@openclaw.local",
    GIT_COMMITTER_NAME: "Claw",
    GIT_COMMITTER_EMAIL: "claw@openclaw.local",
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
    TZ: "UTC",
    LC_ALL: "C",
  };
}

export function git(cwd: string, args: string[], dateMs: number): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: gitEnv(dateMs) });
}

/** Run a shell script with git's deterministic environment ($1.. = args). */
function gitShell(cwd: string, script: string, args: string[], dateMs: number): string {
  return execFileSync("sh", ["-c", script, "sh", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: gitEnv(dateMs) });
}

export function gitInit(cwd: string, dateMs: number): void {
  mkdirSync(cwd, { recursive: true });
  const settings = "gc.auto=0 pack.threads=1 core.trustctime=false core.checkStat=minimal user.name=Claw user.email=claw@openclaw.local";
  gitShell(cwd, 'git init -q -b main && for kv in $1; do git config "${kv%%=*}" "${kv#*=}"; done', [settings], dateMs);
}

/** Stage everything and commit (no-op if nothing changed). Returns true if a commit was made. */
export function gitCommitAll(cwd: string, message: string, dateMs: number): boolean {
  // One spawn for add + commit: spawning from a large Node process is the slow part.
  const out = gitShell(cwd, 'git add -A && if git diff --cached --quiet; then echo same; else git commit -q -m "$1"; fi', [message], dateMs);
  normalizeIndex(cwd);
  return out.trim() !== "same";
}

/**
 * Rewrite `.git/index` (versions 2 and 3) with ctime := mtime and dev, ino, uid, gid := 0, then
 * recompute its SHA-1 trailer. With core.checkStat=minimal and core.trustctime=false git still
 * sees the entries as clean when the work tree files keep their mtimes and sizes.
 */
function normalizeIndex(cwd: string): void {
  const path = join(cwd, ".git", "index");
  if (!existsSync(path)) return;
  const buf = readFileSync(path);
  if (buf.toString("latin1", 0, 4) !== "DIRC") return;
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) return;
  const count = buf.readUInt32BE(8);
  let off = 12;
  for (let i = 0; i < count; i++) {
    const start = off;
    // ctime(8) mtime(8) dev ino mode uid gid size sha1(20) flags(2)
    buf.writeUInt32BE(buf.readUInt32BE(start + 8), start);
    buf.writeUInt32BE(buf.readUInt32BE(start + 12), start + 4);
    buf.writeUInt32BE(0, start + 16); // dev
    buf.writeUInt32BE(0, start + 20); // ino
    buf.writeUInt32BE(0, start + 28); // uid
    buf.writeUInt32BE(0, start + 32); // gid
    const flags = buf.readUInt16BE(start + 60);
    let p = start + 62;
    if (version === 3 && flags & 0x4000) p += 2;
    const nameLen = flags & 0xfff;
    let end = p + nameLen;
    if (nameLen === 0xfff) end = buf.indexOf(0, p);
    // Entry length padded with 1-8 NULs to a multiple of 8.
    const entryLen = end - start;
    off = start + ((entryLen + 8) & ~7);
  }
  const body = buf.subarray(0, buf.length - 20);
  createHash("sha1").update(body).digest().copy(buf, buf.length - 20);
  writeFileSync(path, buf);
}
