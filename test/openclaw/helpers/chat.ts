// Agent turns through a test gateway's OpenAI-compatible endpoint (the same agent run as
// `openclaw agent`, without a CLI process: each of those costs 30 s or more on this machine), and
// waiting for the in-process restart a whole restore asks for.
import type { ConfigOp, Gateway } from "./gateway.ts";
import { toolCall, type ChatRequest, type Reply } from "./mock-model.ts";

/** Turns on the endpoint that chat() talks to. */
export const chatEndpointConfig: ConfigOp = { path: "gateway.http.endpoints.chatCompletions", value: { enabled: true } };

/**
 * After the plugin asked for an in-process restart: waits until /readyz stops answering 200 (the
 * gateway drains, then restarts; it kept answering 200 for a while after the request, and a turn
 * sent then failed with 500 or 503), then until it answers 200 again.
 */
export async function waitRestarted(gw: Gateway, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${gw.port}/readyz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
    if (status !== 200) break;
    if (Date.now() > deadline) throw new Error("the gateway never went down for its restart");
    await new Promise((r) => setTimeout(r, 250));
  }
  await gw.waitReady(Math.max(1000, deadline - Date.now()));
}

/**
 * One agent turn in the main session through the gateway's OpenAI-compatible endpoint (the same
 * agent run as `openclaw agent`, without a CLI process: each costs 30 s or more on this machine).
 * Returns the assistant's reply; throws when the turn fails.
 */
export async function chat(gw: Gateway, message: string, session = "agent:main:main"): Promise<string> {
  // OpenClaw answers a turn that raced its own session bookkeeping with "… changed while starting
  // work. Retry.": a client sends it again, and so does this one. Seen right after a restore's
  // restart: OpenClaw's restart recovery re-runs the main session's orphaned turn (30 s here
  // under load), and every turn sent to that session meanwhile fails; the HTTP endpoint answers
  // it as a bare 500 "internal error" (the gateway's log names SessionWorkStartChangedError), so
  // that is sent again too, for up to about two minutes.
  for (let attempt = 1; ; attempt++) {
    try {
      return await chatOnce(gw, message, session);
    } catch (err) {
      if (attempt >= 12 || !/changed while starting work\. Retry\.|turn failed \(500\): .*"internal error"/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 10_000));
    }
  }
}

async function chatOnce(gw: Gateway, message: string, session: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${gw.port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${gw.env.OPENCLAW_GATEWAY_TOKEN}`, "x-openclaw-session-key": session },
    body: JSON.stringify({ model: "openclaw", messages: [{ role: "user", content: message }] }),
    signal: AbortSignal.timeout(240_000),
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`turn failed (${res.status}): ${body.slice(0, 2000)}`);
  const json = JSON.parse(body) as { choices?: { message?: { content?: string } }[] };
  return json.choices?.[0]?.message?.content ?? "";
}


/**
 * Turns in which the mock model makes one b2_rollback call, as a person asking for it would: the
 * test names the call, the model makes it once, then answers with a text quoting the tool's
 * answer (OpenClaw may add a context message after the tool result, so "the last message is the
 * tool's" is not a reliable sign). Turns without a call get "noted".
 */
export class ToolTurns {
  private command: { tool?: Record<string, unknown>; called?: boolean } = {};

  /** The mock model's reply to `req` (use it in model.script). */
  reply(req: ChatRequest): Reply {
    const { tool, called } = this.command;
    if (tool && !called) {
      this.command.called = true;
      return toolCall(req, "b2_rollback", tool);
    }
    if (tool) return { text: `clawback says: ${req.toolResults[req.toolResults.length - 1] ?? ""}` };
    return { text: "noted" };
  }

  /** One turn on `gw`'s main session; with `tool`, the model calls b2_rollback with it. */
  async turn(gw: Gateway, message: string, tool?: Record<string, unknown>): Promise<string> {
    this.command = tool ? { tool } : {};
    try {
      return await chat(gw, message);
    } finally {
      this.command = {};
    }
  }
}
