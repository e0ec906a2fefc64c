// How the plugin learns that agent turns start and end inside the gateway, and whether it may gate
// them. Measured on OpenClaw 2026.9.6 (docs/openclaw.md, "Hooks and events"):
//   - every agent run (`openclaw agent`, the /v1/chat/completions endpoint, a channel message)
//     emits agent events on the "lifecycle" stream: { runId, data: { phase: "start" } }, then
//     "model", "finishing", and last "end" (or "error"); a plugin subscribes with
//     api.agent.events.registerAgentEventSubscription, which needs no permission;
//   - the typed hooks before_agent_run and agent_end are "conversation hooks": OpenClaw drops them
//     for a non-bundled plugin (with a warning at each registration) unless its entry says
//     plugins.entries.<id>.hooks.allowConversationAccess = true.

/** The part of an agent event this module reads (OpenClaw's AgentEventPayload has more). */
export interface AgentEventLike {
  runId: string;
  stream: string;
  data: Record<string, unknown>;
}

export type TurnChange = { kind: "start" | "end"; runId: string };

/** A turn that starts or ends, from one agent event; undefined for every other event. */
export function turnChange(event: AgentEventLike): TurnChange | undefined {
  if (event.stream !== "lifecycle" || typeof event.runId !== "string" || !event.runId) return undefined;
  const phase = event.data?.phase;
  if (phase === "start") return { kind: "start", runId: event.runId };
  if (phase === "end" || phase === "error") return { kind: "end", runId: event.runId };
  return undefined;
}

/** Whether OpenClaw's config lets plugin `id` register conversation hooks (before_agent_run, agent_end). */
export function conversationAccessGranted(openclawConfig: unknown, id: string): boolean {
  const entries = (openclawConfig as { plugins?: { entries?: Record<string, { hooks?: { allowConversationAccess?: unknown } } | undefined> } } | undefined)?.plugins?.entries;
  return entries?.[id]?.hooks?.allowConversationAccess === true;
}
