import { Redis } from "ioredis";
import { compare, ratio, type Ratio, type Result, type Scenario } from "../harness";

// A hot read hit (one Redis GET, then the tiered store's decoding and checks) against a raw ioredis GET
// of the same bytes, parsed the same way; 1 KiB and 64 KiB values, concurrency 1 and 64.
export const hotRead: Scenario = {
  name: "hot read hit",
  async run(ctx) {
    const { off, on } = await ctx.engines();
    const raw = new Redis(ctx.redis.url);
    ctx.defer(() => raw.disconnect());
    const results: Result[] = [];
    const ratios: Ratio[] = [];
    for (const size of [1024, 64 * 1024]) {
      const value = { blob: "v".repeat(size - 12) };
      const ref = { tenant: "bench", namespace: "kv", key: `hot-${size}` };
      const rec = await on.put(ref, value);
      await off.get(ref);
      const rawKey = `${ctx.redis.prefix}raw-${size}`;
      await raw.set(rawKey, JSON.stringify(rec.value));
      const scenario = `hot read hit ${size / 1024} KiB`;
      for (const concurrency of [1, 64]) {
        results.push(
          ...(await compare(scenario, concurrency, [
            { name: "raw ioredis GET", op: async () => JSON.parse((await raw.get(rawKey))!) },
            { name: "statehouse (telemetry off)", op: () => off.get(ref) },
            { name: "statehouse (telemetry on)", op: () => on.get(ref) },
          ])),
        );
      }
      ratios.push(
        ratio(
          results,
          `hot read hit ${size / 1024} KiB c64 / raw ioredis GET`,
          scenario,
          64,
          "statehouse (telemetry on)",
          "raw ioredis GET",
          0.8,
        ),
      );
    }
    ratios.push(
      ratio(
        results,
        "telemetry on / off (hot read 1 KiB c64)",
        "hot read hit 1 KiB",
        64,
        "statehouse (telemetry on)",
        "statehouse (telemetry off)",
        0.95,
      ),
      ratio(
        results,
        "telemetry on / off (hot read 1 KiB c1)",
        "hot read hit 1 KiB",
        1,
        "statehouse (telemetry on)",
        "statehouse (telemetry off)",
        0.95,
      ),
    );
    return { results, ratios };
  },
};
