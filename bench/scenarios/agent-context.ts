import { benchAgentContext } from "../agent-context";
import type { Scenario } from "../harness";

// Issue 10's claim: an agent turn at 50 turns of history is cheaper with the context kept in state
// (stateful session) than sent and recomputed on every request (stateless invoke). Reported as a ratio
// of latencies (lower is better for Statehouse's stateful path; the claim is about 0.3).
export const agentContext: Scenario = {
  name: "agent turn at 50 turns: stateful vs stateless",
  async run(ctx) {
    const r = await benchAgentContext({ quick: ctx.quick });
    const perSec = (ms: number) => (ms > 0 ? Math.round(1000 / ms) : 0);
    return {
      results: [
        {
          scenario: this.name,
          variant: "stateful (session in state)",
          concurrency: 1,
          opsPerSec: perSec(r.stateful.meanMs),
          p50Ms: r.stateful.p50Ms,
          p99Ms: r.stateful.p99Ms,
        },
        {
          scenario: this.name,
          variant: `stateless (${r.stateless.requestBytes} B of context sent, recomputed)`,
          concurrency: 1,
          opsPerSec: perSec(r.stateless.meanMs),
          p50Ms: r.stateless.p50Ms,
          p99Ms: r.stateless.p99Ms,
        },
      ],
      ratios: [
        {
          name: "agent turn latency, stateful / stateless at 50 turns (mean; the claim is about 0.3)",
          value: r.ratio,
          target: 0.3,
          direction: "max",
          met: r.ratio <= 0.3,
        },
        { name: "agent turn latency, stateful / stateless at 50 turns (p50)", value: r.ratioP50 },
      ],
      notes: [
        `Agent turn at ${r.historyTurns} turns of history, ${r.iterations} turns per variant: stateful mean ${r.stateful.meanMs} ms, stateless mean ${r.stateless.meanMs} ms → ${r.ratio}.`,
      ],
      extra: { agentContext: r },
    };
  },
};
