import { readFileSync } from "node:fs";

/**
 * Who a process on this machine is, well enough to tell later whether it is still running: its
 * pid, when it started (so a pid the kernel handed to another process since does not pass for it)
 * and which boot of the machine it ran in (so a pid from before a reboot does not either).
 * `start` and `boot` are Linux's (/proc); elsewhere only the pid is known and checked.
 */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks from boot to the process's start. */
  start?: string;
  /** /proc/sys/kernel/random/boot_id: changes with every boot. */
  boot?: string;
}

let self: ProcessIdentity | undefined;

/** This process. */
export function thisProcess(): ProcessIdentity {
  if (!self) {
    const start = startTicks(process.pid);
    const boot = bootId();
    self = { pid: process.pid, ...(start ? { start } : {}), ...(boot ? { boot } : {}) };
  }
  return self;
}

/**
 * True when the process is certainly gone: the machine rebooted since, no process has its pid,
 * or the process with its pid started at another moment (the pid was reused). A process of
 * another user that exists counts as running. Only meaningful for a process of this machine.
 */
export function isGone(id: ProcessIdentity): boolean {
  if (!Number.isInteger(id.pid) || id.pid <= 0) return true;
  const boot = bootId();
  if (id.boot && boot && id.boot !== boot) return true;
  if (!pidExists(id.pid)) return true;
  const start = id.start ? startTicks(id.pid) : undefined;
  return start !== undefined && start !== id.start;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces or ')': fields 3… follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const start = fields[22 - 3];
    return start && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
