// What the plugin reads from OpenClaw's agent events and config, on the shapes measured in a
// 2026.9.6 gateway (one `openclaw agent --agent main --message …` turn; docs/openclaw.md, "Hooks
// and events"). The gateway scenario test/openclaw/restore/turn-counting.test.ts drives the same
// code with real turns.
import { describe, expect, it } from "vitest";
import { conversationAccessGranted, turnChange } from "../../src/openclaw/agent-turns.ts";

const runId = "2d3152b2-ecb5-4959-a00a-f7107886542a";
/** One turn's events as the subscription received them (data trimmed of long fields). */
const TURN = [
  { runId, seq: 1, ts: 1, stream: "lifecycle", sessionKey: "agent:main:main", data: { phase: "start", startedAt: 1796598904845 } },
  { runId, seq: 2, ts: 2, stream: "lifecycle", sessionKey: "agent:main:main", data: { phase: "model", provider: "mock", model: "mock-1" } },
  { runId, seq: 3, ts: 3, stream: "assistant", sessionKey: "agent:main:main", data: { text: "ok", delta: "ok" } },
  { runId, seq: 4, ts: 4, stream: "usage", sessionKey: "agent:main:main", data: { outputTokens: 5 } },
  { runId, seq: 5, ts: 5, stream: "lifecycle", sessionKey: "agent:main:main", data: { phase: "finishing", stopReason: "stop", aborted: false, livenessState: "working", endedAt: 1796598908472 } },
  { runId, seq: 6, ts: 6, stream: "lifecycle", sessionKey: "agent:main:main", data: { phase: "model", provider: null, model: null } },
  { runId, seq: 7, ts: 7, stream: "lifecycle", sessionKey: "agent:main:main", data: { phase: "end", startedAt: 1796598871137, endedAt: 1796598909319, aborted: false, stopReason: "stop", executionSettled: true } },
];

describe("agent turns from agent events", () => {
  it("a turn starts at lifecycle 'start' and ends at 'end'; nothing else counts", () => {
    expect(TURN.map(turnChange).filter(Boolean)).toEqual([{ kind: "start", runId }, { kind: "end", runId }]);
  });

  it("a failed turn ends at lifecycle 'error'", () => {
    expect(turnChange({ runId: "r", stream: "lifecycle", data: { phase: "error", error: "boom", executionSettled: true } })).toEqual({ kind: "end", runId: "r" });
  });

  it("events without a run id or off the lifecycle stream change nothing", () => {
    expect(turnChange({ runId: "", stream: "lifecycle", data: { phase: "start" } })).toBeUndefined();
    expect(turnChange({ runId: "r", stream: "compaction", data: { phase: "start" } })).toBeUndefined();
    expect(turnChange({ runId: "r", stream: "lifecycle", data: {} })).toBeUndefined();
  });
});

describe("conversation access", () => {
  it("is granted only by plugins.entries.<id>.hooks.allowConversationAccess = true", () => {
    expect(conversationAccessGranted({ plugins: { entries: { clawback: { hooks: { allowConversationAccess: true } } } } }, "clawback")).toBe(true);
    expect(conversationAccessGranted({ plugins: { entries: { clawback: { hooks: { allowConversationAccess: "true" } } } } }, "clawback")).toBe(false);
    expect(conversationAccessGranted({ plugins: { entries: { other: { hooks: { allowConversationAccess: true } } } } }, "clawback")).toBe(false);
    expect(conversationAccessGranted({ plugins: { entries: { clawback: { enabled: true } } } }, "clawback")).toBe(false);
    expect(conversationAccessGranted({}, "clawback")).toBe(false);
    expect(conversationAccessGranted(undefined, "clawback")).toBe(false);
  });
});
