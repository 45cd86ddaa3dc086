import { compare, ratio, type Scenario } from "../harness";

// A durable compare-and-set write (one PostgreSQL statement writing record + history + outbox event,
// then the hot copy) against a raw single-statement versioned UPDATE through pg.
export const durableWrite: Scenario = {
  name: "durable compare-and-set write",
  async run(ctx) {
    const { off, on } = await ctx.engines();
    await ctx.pool.query("CREATE TABLE bench_raw (id text PRIMARY KEY, value json NOT NULL, version int NOT NULL)");
    await ctx.pool.query("INSERT INTO bench_raw VALUES ('k', '{}', 1)");
    let rawVersion = 1;
    const ref = { tenant: "bench", namespace: "kv", key: "durable" };
    let version = (await on.put(ref, { n: 0 })).version;
    const scenario = "durable compare-and-set write";
    const results = await compare(scenario, 1, [
      {
        name: "raw pg versioned UPDATE",
        op: async (i) => {
          const r = await ctx.pool.query(
            "UPDATE bench_raw SET value = $1, version = version + 1 WHERE id = 'k' AND version = $2 RETURNING version",
            [JSON.stringify({ n: i }), rawVersion],
          );
          rawVersion = r.rows[0].version;
        },
      },
      {
        name: "statehouse (telemetry off)",
        op: async (i) => void (version = (await off.put(ref, { n: i }, { ifVersion: version })).version),
      },
      {
        name: "statehouse (telemetry on)",
        op: async (i) => void (version = (await on.put(ref, { n: i }, { ifVersion: version })).version),
      },
    ]);
    return {
      results,
      ratios: [
        ratio(
          results,
          "durable write / raw pg versioned UPDATE",
          scenario,
          1,
          "statehouse (telemetry on)",
          "raw pg versioned UPDATE",
          0.7,
        ),
        ratio(
          results,
          "telemetry on / off (durable write)",
          scenario,
          1,
          "statehouse (telemetry on)",
          "statehouse (telemetry off)",
          0.95,
        ),
      ],
    };
  },
};
