// A local server speaking OpenAI's chat-completions protocol (plain and streamed), standing in for an
// agent's upstream model: no model runs on these machines. It records every request it receives.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: {
    model: string;
    messages: { role: string; content: string }[];
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    temperature?: number;
    max_tokens?: number;
  };
}

/** The token counts the server reports for every answer (what a real upstream counts, Statehouse passes on). */
export const FAKE_USAGE = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };

export interface FakeLlm {
  /** Base URL to configure, ending in /v1. */
  baseUrl: string;
  /** Every request received, oldest first. */
  seen: ChatRequest[];
  close(): Promise<void>;
}

/**
 * `answer` picks the reply text for a request; streamed replies are sent word by word. `behaviour` can
 * make the server misbehave instead: redirect elsewhere, answer slowly, or answer more bytes than allowed.
 */
export async function startFakeLlm(
  answer: (request: ChatRequest) => string = () => "Hello from the upstream",
  behaviour: { redirectTo?: string; delayMs?: number; padBytes?: number } = {},
): Promise<FakeLlm> {
  const seen: ChatRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const request: ChatRequest = { path: req.url ?? "", headers: req.headers, body: JSON.parse(raw || "{}") };
    seen.push(request);
    if (behaviour.redirectTo) {
      res.writeHead(307, { location: behaviour.redirectTo });
      res.end();
      return;
    }
    if (behaviour.delayMs) await new Promise((r) => setTimeout(r, behaviour.delayMs));
    const text = answer(request) + "x".repeat(behaviour.padBytes ?? 0);
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created: 1,
        model: request.body.model,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })}\n\n`;
    if (request.body.stream) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const piece of text.split(/(?<= )/)) res.write(chunk({ content: piece }, null));
      res.write(chunk({}, "stop"));
      if (request.body.stream_options?.include_usage)
        res.write(
          `data: ${JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", created: 1, model: request.body.model, choices: [], usage: FAKE_USAGE })}\n\n`,
        );
      res.end("data: [DONE]\n\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1,
        model: request.body.model,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
        usage: FAKE_USAGE,
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
