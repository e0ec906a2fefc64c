// Transcript events shaped like OpenClaw's (pi agent JSONL records, one per `transcript_events`
// row in `event_json`): a session header, user messages, assistant messages with thinking, text and
// tool calls (with usage and cost), and tool results.

import type { Rng } from "../lib/rng.ts";
import { isoTime, markdown, paragraph, prose, sentence, shellOutput, words, word, PROJECTS } from "./text.ts";

export interface TranscriptEvent {
  json: string;
  createdAt: number;
}

export interface SessionCursor {
  sessionId: string;
  /** Id of the last event (parentId of the next). */
  lastId: string | null;
  nextSeq: number;
  /** Milliseconds; advanced as events are produced. */
  now: number;
  cwd: string;
}

const MODELS = [
  { api: "anthropic-messages", provider: "anthropic", model: "claude-opus-4-6", in: 15, out: 75 },
  { api: "anthropic-messages", provider: "anthropic", model: "claude-sonnet-4-6", in: 3, out: 15 },
  { api: "openai-responses", provider: "openai", model: "gpt-5.2", in: 1.25, out: 10 },
] as const;

const TOOLS = ["exec", "read", "write", "edit", "web_search", "web_fetch", "memory_search", "message", "cron"] as const;

export function sessionHeader(rng: Rng, cur: SessionCursor): TranscriptEvent {
  const ev = { type: "session", version: 3, id: cur.sessionId, timestamp: isoTime(cur.now), cwd: cur.cwd };
  cur.lastId = null;
  return { json: JSON.stringify(ev), createdAt: cur.now };
}

function event(rng: Rng, cur: SessionCursor, message: Record<string, unknown>): TranscriptEvent {
  const id = rng.hex(8);
  cur.now += rng.range(200, 40_000);
  const ev = { type: "message", id, parentId: cur.lastId, timestamp: isoTime(cur.now), message: { ...message, timestamp: cur.now } };
  cur.lastId = id;
  return { json: JSON.stringify(ev), createdAt: cur.now };
}

function userText(rng: Rng): string {
  const r = rng.int(6);
  if (r === 0) return `Can you ${words(rng, rng.range(3, 9))}? ${sentence(rng)}`;
  if (r === 1) return `Remind me ${rng.pick(["tomorrow", "on Friday", "in two hours", "next week"])} to ${words(rng, rng.range(3, 8))}`;
  if (r === 2) return `${sentence(rng)} ${sentence(rng)}`;
  if (r === 3) return `What's the status of ${rng.pick(PROJECTS)}? ${sentence(rng)}`;
  if (r === 4) return paragraph(rng, rng.range(2, 5));
  return `${sentence(rng)}\n\n${markdown(rng, rng.size(300, 0.8, 60, 3000))}`;
}

function usage(rng: Rng, m: (typeof MODELS)[number], outChars: number) {
  const input = rng.range(800, 60_000);
  const output = Math.max(20, Math.round(outChars / 3.7));
  const cacheRead = rng.chance(0.7) ? rng.range(5_000, 120_000) : 0;
  const cacheWrite = rng.chance(0.3) ? rng.range(500, 20_000) : 0;
  const c = (n: number, perM: number) => Math.round((n / 1e6) * perM * 1e6) / 1e6;
  return {
    input,
    output,
    cacheRead,
    cacheWrite,
    totalTokens: input + output + cacheRead + cacheWrite,
    cost: { input: c(input, m.in), output: c(output, m.out), cacheRead: c(cacheRead, m.in / 10), cacheWrite: c(cacheWrite, m.in * 1.25), total: c(input, m.in) + c(output, m.out) },
  };
}

function toolCall(rng: Rng, cur: SessionCursor): { name: string; args: Record<string, unknown>; result: string } {
  const name = rng.pick(TOOLS);
  const big = rng.chance(0.08);
  const size = big ? rng.size(20_000, 0.6, 5_000, 60_000) : rng.size(1_400, 0.9, 80, 12_000);
  switch (name) {
    case "exec": {
      const { command, output } = shellOutput(rng, size, cur.now);
      return { name, args: { command, timeout: 120 }, result: output };
    }
    case "read": {
      const path = `${cur.cwd}/${rng.pick(["notes", "projects", "docs", "memory"])}/${word(rng)}.md`;
      return { name, args: { path }, result: markdown(rng, size) };
    }
    case "write":
    case "edit": {
      const path = `${cur.cwd}/${rng.pick(["notes", "projects", "memory"])}/${word(rng)}.md`;
      const content = markdown(rng, Math.min(size, 3000));
      return { name, args: name === "write" ? { path, content } : { path, oldText: sentence(rng), newText: sentence(rng) }, result: `Successfully wrote ${content.length} bytes to ${path}` };
    }
    case "web_search": {
      const q = words(rng, rng.range(2, 6));
      const results: string[] = [];
      let len = 0;
      while (len < size) {
        const r = `${results.length + 1}. ${sentence(rng)}\n   https://${word(rng)}.example.org/${word(rng)}/${rng.hex(6)}\n   ${paragraph(rng, 2)}`;
        results.push(r);
        len += r.length;
      }
      return { name, args: { query: q, count: results.length }, result: results.join("\n\n") };
    }
    case "web_fetch":
      return { name, args: { url: `https://${word(rng)}.example.com/${word(rng)}/${word(rng)}`, extractMode: "markdown" }, result: prose(rng, size) };
    case "memory_search": {
      const hits: string[] = [];
      for (let i = rng.range(1, 6); i > 0; i--) hits.push(JSON.stringify({ path: `memory/${word(rng)}.md`, startLine: rng.int(200), score: Math.round(rng.next() * 1000) / 1000, snippet: paragraph(rng, 2) }));
      return { name, args: { query: words(rng, rng.range(2, 5)), maxResults: 6 }, result: `[${hits.join(",")}]` };
    }
    case "message":
      return { name, args: { action: "send", channel: rng.pick(["telegram", "whatsapp", "discord"]), to: `+1555${rng.range(1000000, 9999999)}`, message: sentence(rng) }, result: JSON.stringify({ ok: true, messageId: rng.hex(16) }) };
    default:
      return { name, args: { action: "add", schedule: { kind: "cron", expr: `${rng.int(60)} ${rng.int(24)} * * *` }, text: sentence(rng) }, result: JSON.stringify({ ok: true, jobId: rng.uuid() }) };
  }
}

/** One conversation turn: a user message, then assistant steps with tool calls and results, then the answer. */
export function turn(rng: Rng, cur: SessionCursor): TranscriptEvent[] {
  const out: TranscriptEvent[] = [];
  const m = MODELS[rng.int(10) < 6 ? 0 : rng.int(10) < 8 ? 1 : 2] ?? MODELS[0];
  out.push(event(rng, cur, { role: "user", content: [{ type: "text", text: userText(rng) }] }));
  const steps = rng.chance(0.35) ? 0 : rng.range(1, 4);
  for (let s = 0; s < steps; s++) {
    const calls = rng.chance(0.8) ? 1 : rng.range(2, 3);
    const content: Record<string, unknown>[] = [];
    if (rng.chance(0.6)) content.push({ type: "thinking", thinking: prose(rng, rng.size(400, 0.7, 60, 4000)), thinkingSignature: rng.bytes(rng.range(120, 360)).toString("base64") });
    if (rng.chance(0.3)) content.push({ type: "text", text: sentence(rng) });
    const made: ReturnType<typeof toolCall>[] = [];
    for (let c = 0; c < calls; c++) {
      const call = toolCall(rng, cur);
      made.push(call);
      content.push({ type: "toolCall", id: `toolu_${rng.base62(24)}`, name: call.name, arguments: call.args });
    }
    out.push(event(rng, cur, { role: "assistant", content, api: m.api, provider: m.provider, model: m.model, usage: usage(rng, m, 400), stopReason: "toolUse" }));
    for (let c = 0; c < made.length; c++) {
      const call = made[c];
      if (!call) continue;
      const callId = (content.filter((x) => x.type === "toolCall")[c]?.id as string) ?? "";
      out.push(event(rng, cur, { role: "toolResult", toolCallId: callId, toolName: call.name, content: [{ type: "text", text: call.result }], details: { durationMs: rng.range(20, 9000), truncated: false }, isError: rng.chance(0.04) }));
    }
  }
  const answer = markdown(rng, rng.size(700, 0.8, 40, 8000));
  out.push(event(rng, cur, { role: "assistant", content: [{ type: "text", text: answer }], api: m.api, provider: m.provider, model: m.model, usage: usage(rng, m, answer.length), stopReason: "stop" }));
  return out;
}

/** A compaction summary event (written at the head of the session window that replaces an archived one). */
export function compactionEvent(rng: Rng, cur: SessionCursor, archivedSessionId: string, tokensBefore: number): TranscriptEvent {
  const id = rng.hex(8);
  cur.now += rng.range(500, 5000);
  const ev = { type: "compaction", id, parentId: cur.lastId, timestamp: isoTime(cur.now), summary: markdown(rng, rng.size(2500, 0.4, 600, 8000), "Conversation summary"), firstKeptEntryId: null, tokensBefore, archived: { sessionId: archivedSessionId } };
  cur.lastId = id;
  return { json: JSON.stringify(ev), createdAt: cur.now };
}
