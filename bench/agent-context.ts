// Agent turn at 50 turns of history: stateful (the session's memory is kept in state: recent turns,
// summary, entities, profile vector) vs stateless (the client sends the same 50 turns every time and
// the server recomputes entities, summary and profile from them). Both go through the real API handler
// (in-process fetch, no sockets) on the shared PostgreSQL and Redis, alternating in rounds so noise hits
// both alike. The claim under test: keeping context in fast state cuts a turn's latency by ~70 %
// (stateful / stateless ≈ 0.3). Writes bench/results/agent-context.{json,md}.
import { mkdir, writeFile } from "node:fs/promises";

import { createApi } from "../server/http/app";
import { startBenchServices } from "./harness";

export interface AgentContextResult {
  historyTurns: number;
  iterations: number;
  stateful: { meanMs: number; p50Ms: number; p99Ms: number };
  stateless: { meanMs: number; p50Ms: number; p99Ms: number; requestBytes: number };
  /** stateful mean latency / stateless mean latency (the claim: about 0.3). */
  ratio: number;
  ratioP50: number;
}

const userMessage = (i: number) =>
  `Turn ${i}: my order ${1000 + i} for the ${["hiking", "sailing", "camping", "climbing", "cycling"][i % 5]} trip should arrive on March ${(i % 28) + 1}; ` +
  `the budget is $${(i + 1) * 10}. Please check with Dana Smith at dana${i}@example.com.`;

/** Runs the scenario and returns its numbers; `quick` shortens it (CI). */
export async function benchAgentContext(
  options: { historyTurns?: number; rounds?: number; perRound?: number; quick?: boolean } = {},
): Promise<AgentContextResult> {
  const historyTurns = options.historyTurns ?? 50;
  const rounds = options.rounds ?? (options.quick ? 3 : 6);
  const perRound = options.perRound ?? (options.quick ? 10 : 40);
  const { services, close } = await startBenchServices();
  try {
    const api = createApi(services);
    const { key } = await services.keys.create({ tenant: "bench", scopes: ["agents:invoke"] });
    const call = async (path: string, body: unknown) => {
      const res = await api.fetch(
        new Request(`http://bench${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      );
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ reply: string }>;
    };

    // The same 50-turn conversation, once kept in a session, once as the messages a stateless client holds.
    const { sessionId } = (await call("/api/v1/agents/assistant/sessions", {})) as unknown as { sessionId: string };
    const messages: { role: "user" | "assistant"; content: string }[] = [];
    for (let i = 1; i <= historyTurns; i++) {
      const { reply } = await call(`/api/v1/agents/assistant/sessions/${sessionId}/messages`, {
        content: userMessage(i),
      });
      messages.push({ role: "user", content: userMessage(i) }, { role: "assistant", content: reply });
    }
    const next = "What is my email, and when does the sailing order arrive?";
    const statelessBody = { messages: [...messages, { role: "user" as const, content: next }] };

    const stateful: number[] = [];
    const stateless: number[] = [];
    const time = async (into: number[], fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      into.push(performance.now() - t);
    };
    // Warm-up, then alternating rounds.
    for (let i = 0; i < 3; i++) {
      await call(`/api/v1/agents/assistant/sessions/${sessionId}/messages`, { content: next });
      await call("/api/v1/agents/assistant/invoke", statelessBody);
    }
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++)
        await time(stateful, () => call(`/api/v1/agents/assistant/sessions/${sessionId}/messages`, { content: next }));
      for (let i = 0; i < perRound; i++)
        await time(stateless, () => call("/api/v1/agents/assistant/invoke", statelessBody));
    }
    const stats = (xs: number[]) => ({
      meanMs: round3(xs.reduce((a, b) => a + b, 0) / xs.length),
      p50Ms: round3(quantile(xs, 0.5)),
      p99Ms: round3(quantile(xs, 0.99)),
    });
    const a = stats(stateful);
    const b = stats(stateless);
    return {
      historyTurns,
      iterations: stateful.length,
      stateful: a,
      stateless: { ...b, requestBytes: Buffer.byteLength(JSON.stringify(statelessBody)) },
      ratio: round3(a.meanMs / b.meanMs),
      ratioP50: round3(a.p50Ms / b.p50Ms),
    };
  } finally {
    await close();
  }
}

/** Runs the scenario, prints it and writes bench/results/agent-context.{json,md}. */
export async function runAgentContextBench(quick = process.env.BENCH_QUICK === "1"): Promise<AgentContextResult> {
  const result = await benchAgentContext({ quick });
  const md = [
    `Agent turn at ${result.historyTurns} turns of history (${result.iterations} turns per variant, alternating rounds):`,
    "",
    "| variant | mean ms | p50 ms | p99 ms |",
    "|---|---|---|---|",
    `| stateful (session in state) | ${result.stateful.meanMs} | ${result.stateful.p50Ms} | ${result.stateful.p99Ms} |`,
    `| stateless (context sent, ${result.stateless.requestBytes} bytes, recomputed) | ${result.stateless.meanMs} | ${result.stateless.p50Ms} | ${result.stateless.p99Ms} |`,
    "",
    `stateful / stateless latency: ${result.ratio} (mean), ${result.ratioP50} (p50); the claim is about 0.3.`,
  ].join("\n");
  await mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await writeFile(
    new URL("./results/agent-context.json", import.meta.url),
    `${JSON.stringify({ at: new Date().toISOString(), mode: quick ? "quick" : "full", ...result }, null, 2)}\n`,
  );
  await writeFile(new URL("./results/agent-context.md", import.meta.url), `${md}\n`);
  console.log(md);
  return result;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const round3 = (x: number) => Math.round(x * 1000) / 1000;

if (import.meta.url === `file://${process.argv[1]}`) await runAgentContextBench();
