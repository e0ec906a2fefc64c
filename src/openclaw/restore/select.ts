// Which snapshot a person means. The b2_rollback tool and `openclaw clawback restore` take one
// string ("yesterday evening", "2 hours ago", "before the last compaction", "3f9c2a", ...) and
// resolve it here, over the repository's snapshot list, with the clock passed in (tests fix it).
//
// Decisions (docs/openclaw.md, "Restore"):
// - A time means "the state as it was then": the newest snapshot taken at or before that moment.
//   A named period ("yesterday evening", "2026-12-05") means its end, preferring a snapshot taken
//   inside the period; when none was, the newest one before it is chosen and the answer says so.
// - "before X" means strictly before X began ("before yesterday evening": newest snapshot before
//   18:00 yesterday).
// - "before the last compaction" is the latest `pre-compaction` snapshot itself: it is taken by
//   the before_compaction hook, so it holds the state right before that compaction. (When a
//   second compaction came within the 5-minute debounce and made no snapshot, this one is still
//   from before it.) The snapshot before that would lose up to a day more for nothing.
// - Safety snapshots (taken before every restore) are only chosen when named: by id, or by
//   "undo" / "safety" / "before the last restore" (the newest safety snapshot).
// - Times are the machine's local time, as the person at the gateway reads them.

import { SnapshotNotFoundError } from "../../errors.ts";
import type { SnapshotSummary } from "../../lib.ts";

export interface Selection {
  snapshot: SnapshotSummary;
  /** One sentence a person reads: which snapshot and why this one. */
  why: string;
}

interface Period {
  start: Date;
  end: Date;
  label: string;
}

const HOUR = 3_600_000;
const UNIT_MS: Record<string, number> = {
  s: 1_000, sec: 1_000, secs: 1_000, second: 1_000, seconds: 1_000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: HOUR, hr: HOUR, hrs: HOUR, hour: HOUR, hours: HOUR,
  d: 24 * HOUR, day: 24 * HOUR, days: 24 * HOUR,
  w: 7 * 24 * HOUR, week: 7 * 24 * HOUR, weeks: 7 * 24 * HOUR,
};

/** Parts of a day, in local hours [start, end). "night" runs past midnight into the next day. */
const DAY_PARTS: Record<string, [number, number]> = {
  morning: [6, 12],
  afternoon: [12, 18],
  evening: [18, 24],
  night: [18, 30],
};

/** Reasons a person may name, to the reason a snapshot records. */
const REASON_WORDS: [RegExp, string][] = [
  [/^(?:pre-?compaction|compaction|compact(?:ing)?)$/, "pre-compaction"],
  [/^(?:shutdown|stop|shut ?down|gateway stop)$/, "shutdown"],
  [/^(?:schedule|scheduled|nightly|daily|cron)$/, "schedule"],
  [/^(?:manual|push|manual backup)$/, "manual"],
  [/^(?:migration)$/, "migration"],
];

/**
 * Resolves what a person said to one snapshot. `snapshots` is the repository's list (any order).
 * Throws SnapshotNotFoundError with a message that says what exists instead.
 */
export function selectSnapshot(snapshots: readonly SnapshotSummary[], query: string, now: Date): Selection {
  const all = [...snapshots].sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
  const regular = all.filter((s) => s.reason !== "safety");
  const q = normalize(query);
  if (q === "") throw new SnapshotNotFoundError(query, "say which snapshot: an id, a time such as 'yesterday evening' or '2 hours ago', or 'before the last compaction'");

  // An id or id prefix: any snapshot, safety snapshots included.
  if (/^[0-9a-f]{4,64}$/.test(q)) {
    const matches = all.filter((s) => s.id.startsWith(q));
    if (matches.length === 1) return { snapshot: matches[0]!, why: `snapshot ${short(matches[0]!)} by its id` };
    if (matches.length > 1) throw new SnapshotNotFoundError(query, `the prefix matches ${matches.length} snapshots; give more digits`);
    if (!/^\d{4}$/.test(q)) throw new SnapshotNotFoundError(query, "no snapshot has this id");
  }

  if (/^(?:undo|safety|the last safety(?: snapshot)?|last safety(?: snapshot)?|before the (?:last )?restore|undo the (?:last )?restore)$/.test(q)) {
    const safety = all.filter((s) => s.reason === "safety");
    const pick = safety[safety.length - 1];
    if (!pick) throw new SnapshotNotFoundError(query, "there is no safety snapshot: nothing has been restored yet");
    return { snapshot: pick, why: `the safety snapshot taken before the last restore (${describe(pick)})` };
  }

  const latest = /^(?:the )?(?:latest|last|newest|most recent)(?: (?:snapshot|backup))?(?:~(\d+))?$/.exec(q);
  if (latest) return nthLatest(regular, Number(latest[1] ?? 0), query);
  const back = /^(\d+) (?:snapshots?|backups?) (?:ago|back|before)$/.exec(q);
  if (back) return nthLatest(regular, Number(back[1]), query);

  const reason = reasonQuery(q);
  if (reason) {
    const ofReason = regular.filter((s) => s.reason === reason.reason);
    const pick = ofReason[ofReason.length - 1];
    if (!pick) throw new SnapshotNotFoundError(query, `there is no ${reason.reason} snapshot (${inventory(regular)})`);
    if (reason.reason === "pre-compaction") return { snapshot: pick, why: `the snapshot taken right before the last compaction (${describe(pick)})` };
    return { snapshot: pick, why: `the latest ${reason.reason} snapshot (${describe(pick)})` };
  }

  const before = /^before (.+)$/.exec(q);
  const moment = parseMoment(before ? before[1]! : q, now);
  if (!moment) {
    throw new SnapshotNotFoundError(query, "not understood: give a snapshot id, a time ('yesterday evening', '2 hours ago', '2026-12-05 18:00'), a reason ('before the last compaction', 'the last shutdown') or 'undo'");
  }
  if (before) {
    const cutoff = "start" in moment ? moment.start : moment.at;
    const pick = newestBefore(regular, cutoff, false);
    if (!pick) throw new SnapshotNotFoundError(query, `no snapshot is older than ${local(cutoff)} (${inventory(regular)})`);
    return { snapshot: pick, why: `the newest snapshot before ${"label" in moment ? moment.label : local(cutoff)} (${describe(pick)})` };
  }
  if ("start" in moment) {
    const pick = newestBefore(regular, moment.end, false);
    if (!pick) throw new SnapshotNotFoundError(query, `no snapshot is as old as ${moment.label} (${inventory(regular)})`);
    const inside = Date.parse(pick.time) >= moment.start.getTime();
    return {
      snapshot: pick,
      why: inside ? `the last snapshot of ${moment.label} (${describe(pick)})` : `no snapshot was taken ${moment.label}; this is the newest one before it (${describe(pick)})`,
    };
  }
  const pick = newestBefore(regular, moment.at, true);
  if (!pick) throw new SnapshotNotFoundError(query, `no snapshot is as old as ${local(moment.at)} (${inventory(regular)})`);
  return { snapshot: pick, why: `the state as of ${local(moment.at)}: the newest snapshot at or before it (${describe(pick)})` };
}

function nthLatest(regular: SnapshotSummary[], n: number, query: string): Selection {
  const pick = regular[regular.length - 1 - n];
  if (!pick) throw new SnapshotNotFoundError(query, regular.length === 0 ? "the repository has no snapshots yet" : `only ${regular.length} snapshots exist`);
  return { snapshot: pick, why: n === 0 ? `the latest snapshot (${describe(pick)})` : `${n} snapshots before the latest (${describe(pick)})` };
}

function reasonQuery(q: string): { reason: string } | undefined {
  // "before the last compaction", "the one before the last compaction", "pre-compaction"
  if (/(?:^|\s)(?:before|pre)[ -](?:the )?(?:last |latest )?compaction$/.test(q)) return { reason: "pre-compaction" };
  // "the last shutdown", "latest manual backup", "reason schedule", "pre-compaction"
  const m = /^(?:reason |(?:the )?(?:last|latest) )?(.+?)(?: snapshot| backup)?$/.exec(q);
  const word = m?.[1] ?? q;
  for (const [re, reason] of REASON_WORDS) if (re.test(word)) return { reason };
  return undefined;
}

/** A moment (`at`) or a period (`start`..`end`) in local time, or undefined when not a time. */
function parseMoment(q: string, now: Date): { at: Date } | Period | undefined {
  const ago = /^(?:an?|\d+(?:\.\d+)?) ?([a-z]+) ago$/.exec(q);
  if (ago) {
    const unit = UNIT_MS[ago[1]!];
    const amount = /^an?\b/.test(q) ? 1 : Number.parseFloat(q);
    if (unit !== undefined && Number.isFinite(amount)) return { at: new Date(now.getTime() - amount * unit) };
  }

  // ISO date-time (with or without zone): an instant. ISO date alone: that local day.
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[t ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(z|[+-]\d{2}:?\d{2})?)?$/.exec(q);
  if (iso) {
    const [, y, mo, d, h, mi, s, zone] = iso;
    if (h === undefined) {
      const start = new Date(Number(y), Number(mo) - 1, Number(d));
      if (Number.isNaN(start.getTime()) || start.getDate() !== Number(d)) return undefined;
      return { start, end: addDays(start, 1), label: `on ${q}` };
    }
    const at = zone ? new Date(q.replace(" ", "T").toUpperCase()) : new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
    return Number.isNaN(at.getTime()) ? undefined : { at };
  }

  const today = startOfDay(now);
  const dayWords: Record<string, Date> = { today, yesterday: addDays(today, -1), "the day before yesterday": addDays(today, -2) };
  if (q === "last night") return dayPart(addDays(today, -1), "night", "last night");
  if (q === "tonight") return dayPart(today, "night", "tonight");
  const part = /^(today|yesterday|the day before yesterday|this)(?: (morning|afternoon|evening|night))?(?: at (.+))?$/.exec(q);
  if (part) {
    const day = part[1] === "this" ? today : dayWords[part[1]!]!;
    if (part[3]) {
      const at = clockTime(part[3], day);
      return at ? { at } : undefined;
    }
    if (part[2]) return dayPart(day, part[2], `${part[1]} ${part[2]}`);
    if (part[1] === "this") return undefined;
    return { start: day, end: addDays(day, 1), label: part[1]! };
  }
  const clock = /^(?:at |since )?(.+)$/.exec(q);
  const at = clock ? clockTime(clock[1]!, today) : undefined;
  if (at) return { at: at.getTime() > now.getTime() ? addDays(at, -1) : at };
  return undefined;
}

function dayPart(day: Date, part: string, label: string): Period {
  const [from, to] = DAY_PARTS[part]!;
  return { start: new Date(day.getTime() + from * HOUR), end: atHour(day, to), label };
}

/** "3pm", "3:30 pm", "15:00", "noon", "midnight" on the given day. */
function clockTime(s: string, day: Date): Date | undefined {
  if (s === "noon") return atHour(day, 12);
  if (s === "midnight") return day;
  const m = /^(\d{1,2})(?::(\d{2}))? ?(am|pm)?$/.exec(s);
  if (!m || (m[2] === undefined && m[3] === undefined)) return undefined;
  let hour = Number(m[1]);
  const minute = Number(m[2] ?? 0);
  if (m[3]) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (m[3] === "pm" ? 12 : 0);
  }
  if (hour > 23 || minute > 59) return undefined;
  const out = new Date(day);
  out.setHours(hour, minute, 0, 0);
  return out;
}

function atHour(day: Date, hour: number): Date {
  // Via the calendar, not milliseconds, so a daylight-saving change inside the day is honoured.
  const out = new Date(day);
  out.setHours(0, 0, 0, 0);
  out.setDate(out.getDate() + Math.floor(hour / 24));
  out.setHours(hour % 24);
  return out;
}

function startOfDay(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

function addDays(d: Date, n: number): Date {
  const out = new Date(d);
  out.setDate(out.getDate() + n);
  return out;
}

function newestBefore(list: SnapshotSummary[], t: Date, inclusive: boolean): SnapshotSummary | undefined {
  const ms = t.getTime();
  for (let i = list.length - 1; i >= 0; i--) {
    const at = Date.parse(list[i]!.time);
    if (inclusive ? at <= ms : at < ms) return list[i];
  }
  return undefined;
}

function normalize(s: string): string {
  return s.trim().toLowerCase().replace(/[’']/g, "").replace(/[?!.,]+$/g, "").replace(/\s+/g, " ")
    .replace(/^(?:roll ?back to|go back to|restore|bring back|back to)\s+/, "")
    .replace(/^(?:the state |how it was |as it was |the snapshot |snapshot )?(?:from |of |as of )?/, "")
    .trim();
}

function short(s: SnapshotSummary): string {
  return s.id.slice(0, 8);
}

/** "3f9c2a1b, 2026-12-05 18:02, pre-compaction". */
export function describe(s: SnapshotSummary): string {
  return `${short(s)}, ${local(new Date(s.time))}, ${s.reason}`;
}

function local(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function inventory(regular: SnapshotSummary[]): string {
  if (regular.length === 0) return "the repository has no snapshots yet";
  return `${regular.length} snapshots, from ${local(new Date(regular[0]!.time))} to ${local(new Date(regular[regular.length - 1]!.time))}`;
}
