// A small OpenAI-compatible model server for gateway tests, on 127.0.0.1 (a free port). It answers
// POST /v1/chat/completions with `stream: true` as server-sent events, the way DESIGN.md
// ("Running a real gateway in tests") measured OpenClaw to expect them, and GET /v1/models.
//
//   const model = await startMockModel();
//   model.script((req) => req.userText.includes("backup status") && !req.hasToolResult
//     ? { tool: { name: "b2_rollback", arguments: { action: "status" } } }
//     : { text: "ok" });
//   ... point the gateway at model.baseUrl (see gatewayModelConfig) ...
//   await model.stop();
//
// The script sees each request (its messages, the user texts, the tools offered, the tool results
// already in) and returns a text reply or a tool call. Without a script every request gets "ok".
// With OpenClaw's default tool search, a plugin tool is reached through the `tool_call` meta-tool:
// `toolCall()` below picks whichever form the request offers.

import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  tools: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
  /** Text of every user message, joined (the last one is OpenClaw's internal context block). */
  userText: string;
  /** Texts of the tool results in this request, oldest first. */
  toolResults: string[];
  /** True when the last message is a tool result: the model is asked to go on after a tool. */
  afterToolResult: boolean;
}

export type Reply = ({ text: string } | { tool: { name: string; arguments: Record<string, unknown> } }) & {
  /** Answer this long after the request (a slow model: a turn that stays running). */
  delayMs?: number;
  /** Answer once this settles (a turn that runs until the test lets it end). */
  after?: Promise<unknown>;
};

export interface MockModel {
  /** http://127.0.0.1:<port>/v1 */
  baseUrl: string;
  /** Every chat request received, in order. */
  requests: ChatRequest[];
  script(fn: (req: ChatRequest) => Reply): void;
  stop(): Promise<void>;
}

/**
 * A tool call for `name` in the form this request offers: the plain function when it is listed,
 * else through the tool-search meta-tool `tool_call` ({ id, args }).
 */
export function toolCall(req: ChatRequest, name: string, args: Record<string, unknown>): Reply {
  if (req.tools.some((t) => t.function.name === name)) return { tool: { name, arguments: args } };
  return { tool: { name: "tool_call", arguments: { id: name, args } } };
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === "object" && "text" in p ? String((p as { text: unknown }).text) : "")).join("\n");
  return "";
}

function parseRequest(body: string): ChatRequest {
  const raw = JSON.parse(body) as { model?: string; messages?: ChatMessage[]; tools?: ChatRequest["tools"] };
  const messages = raw.messages ?? [];
  const last = messages[messages.length - 1];
  return {
    model: raw.model ?? "",
    messages,
    tools: raw.tools ?? [],
    userText: messages.filter((m) => m.role === "user").map((m) => textOf(m.content)).join("\n"),
    toolResults: messages.filter((m) => m.role === "tool").map((m) => textOf(m.content)),
    afterToolResult: last?.role === "tool",
  };
}

let callCounter = 0;

function sse(res: http.ServerResponse, model: string, reply: Reply): void {
  const id = `chatcmpl-mock-${++callCounter}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices, ...extra })}\n\n`);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  if ("text" in reply) {
    chunk([{ index: 0, delta: { role: "assistant", content: reply.text }, finish_reason: null }]);
    chunk([{ index: 0, delta: {}, finish_reason: "stop" }]);
  } else {
    const call = { index: 0, id: `call_${callCounter}`, type: "function", function: { name: reply.tool.name, arguments: JSON.stringify(reply.tool.arguments) } };
    chunk([{ index: 0, delta: { role: "assistant", content: null, tool_calls: [call] }, finish_reason: null }]);
    chunk([{ index: 0, delta: {}, finish_reason: "tool_calls" }]);
  }
  chunk([], { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } });
  res.end("data: [DONE]\n\n");
}

export async function startMockModel(): Promise<MockModel> {
  const requests: ChatRequest[] = [];
  let handler: (req: ChatRequest) => Reply = () => ({ text: "ok" });
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => {
      try {
        if (req.method === "GET" && req.url?.startsWith("/v1/models")) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ object: "list", data: [{ id: "mock-1", object: "model", owned_by: "mock" }] }));
          return;
        }
        if (req.method !== "POST" || !req.url?.startsWith("/v1/chat/completions")) {
          res.writeHead(404).end();
          return;
        }
        const chat = parseRequest(Buffer.concat(parts).toString("utf8"));
        requests.push(chat);
        const reply = handler(chat);
        const send = () => (reply.delayMs ? setTimeout(() => sse(res, chat.model, reply), reply.delayMs) : sse(res, chat.model, reply));
        if (reply.after) void reply.after.then(send, send);
        else send();
      } catch (err) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: (err as Error).message } }));
      }
    });
  });
  // OpenClaw's client keeps connections alive between requests that, on a loaded machine, come
  // minutes apart: Node's 5 s default made it reuse sockets the server had closed ("fetch failed",
  // UND_ERR_SOCKET, a failed turn).
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 610_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script(fn) {
      handler = fn;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
