import { QUICK, type Scenario } from "../harness";

// 32 writers read-modify-write one counter with compare-and-set: successful writes per second, the
// conflict rate, and the check that matters: the final count equals the number of successful writes.
export const contention: Scenario = {
  name: "32 writers on one key",
  async run(ctx) {
    const { on } = await ctx.engines();
    const ref = { tenant: "bench", namespace: "kv", key: "contended" };
    await on.put(ref, { count: 0 });
    let successes = 0;
    let conflicts = 0;
    const started = performance.now();
    const deadline = started + (QUICK ? 2000 : 8000);
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < deadline) {
          const cur = (await on.get(ref, { consistency: "strong" }))!;
          try {
            await on.put(ref, { count: (cur.value as { count: number }).count + 1 }, { ifVersion: cur.version });
            successes++;
          } catch (err) {
            if ((err as { code?: string }).code !== "version_conflict") throw err;
            conflicts++;
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const final = (await on.get(ref, { consistency: "strong" }))!.value as { count: number };
    const successesPerSec = Math.round(successes / elapsed);
    const conflictRate = Math.round((conflicts / (successes + conflicts)) * 1000) / 1000;
    return {
      results: [
        {
          scenario: "32 writers on one key",
          variant: "statehouse (telemetry on)",
          concurrency: 32,
          opsPerSec: successesPerSec,
          p50Ms: null,
          p99Ms: null,
        },
      ],
      checks: [
        {
          name: "contended counter ends at exactly the number of successful writes",
          ok: final.count === successes && successes > 0,
          detail: `${final.count} vs ${successes}`,
        },
      ],
      notes: [
        `Contention (32 writers, one key): ${successesPerSec} successful writes/s, conflict rate ${conflictRate}, final count ${final.count} (= successful writes: ${final.count === successes}).`,
      ],
      extra: { contention: { successesPerSec, conflictRate, finalCount: final.count, successes } },
    };
  },
};
