// One agent turn through the gateway's OpenAI-compatible endpoint (the same agent run as
// `openclaw agent`, without a CLI process: each costs 30 s or more on a loaded machine). The
// gateway needs `gateway.http.endpoints.chatCompletions: { enabled: true }` (chatEndpointConfig).
import type { ConfigOp, Gateway } from "./gateway.ts";

export const chatEndpointConfig: ConfigOp = { path: "gateway.http.endpoints.chatCompletions", value: { enabled: true } };

/** Sends `message` in `session` (default the main session); returns the reply, throws when the turn fails. */
export async function chat(gw: Gateway, message: string, session = "agent:main:main"): Promise<string> {
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
