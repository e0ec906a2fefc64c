// Agent turns through a test gateway's OpenAI-compatible endpoint (the same agent run as
// `openclaw agent`, without a CLI process: each of those costs 30 s or more on this machine), and
// waiting for the in-process restart a whole restore asks for.
import type { Gateway } from "./gateway.ts";

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
  // OpenClaw answers a turn that raced its own session bookkeeping (restart recovery of an
  // orphaned session, seen right after a restore's restart) with "… changed while starting work.
  // Retry.": a client sends it again, and so does this one, twice at most.
  for (let attempt = 1; ; attempt++) {
    try {
      return await chatOnce(gw, message, session);
    } catch (err) {
      if (attempt >= 3 || !/changed while starting work\. Retry\./.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 2_000));
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

