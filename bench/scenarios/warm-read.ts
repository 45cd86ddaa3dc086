import { compare, ratio, type Result, type Scenario } from "../harness";

const KEYS = 20_000;

// A warm read: the key is not in Redis, so the tiered store asks Redis (miss), reads PostgreSQL and
// promotes the record to Redis. Baseline: a raw SELECT by primary key through pg of the same 1 KiB.
// Every slice starts with the hot tier emptied (untimed), and each op reads a different key.
export const warmRead: Scenario = {
  name: "warm read",
  async run(ctx) {
    const { off, on } = await ctx.engines();
    const value = JSON.stringify({ blob: "w".repeat(1024 - 12) });
    // Rows made in one statement, as the warm tier's own writes would leave them.
    await ctx.pool.query(
      `INSERT INTO state_records (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted)
       SELECT 'bench', 'kv', 'warm-' || i, $1::json, 1, 1, now(), now(), NULL, $2, false FROM generate_series(0, $3 - 1) AS i`,
      [value, Buffer.byteLength(value), KEYS],
    );
    await ctx.pool.query(
      "CREATE TABLE bench_raw_read (id text PRIMARY KEY, value json NOT NULL, version int NOT NULL)",
    );
    await ctx.pool.query(
      "INSERT INTO bench_raw_read SELECT 'warm-' || i, $1::json, 1 FROM generate_series(0, $2 - 1) AS i",
      [value, KEYS],
    );
    const evictHot = () => ctx.redis.cleanup();
    const ref = (i: number) => ({ tenant: "bench", namespace: "kv", key: `warm-${i % KEYS}` });
    const results: Result[] = [];
    for (const concurrency of [1, 16]) {
      results.push(
        ...(await compare("warm read (miss, then promote) 1 KiB", concurrency, [
          {
            name: "raw pg SELECT by primary key",
            op: async (i) =>
              JSON.parse(
                (
                  await ctx.pool.query("SELECT value::text AS value, version FROM bench_raw_read WHERE id = $1", [
                    `warm-${i % KEYS}`,
                  ])
                ).rows[0].value,
              ),
          },
          { name: "statehouse (telemetry off)", op: (i) => off.get(ref(i)), beforeSlice: evictHot },
          { name: "statehouse (telemetry on)", op: (i) => on.get(ref(i)), beforeSlice: evictHot },
        ])),
      );
    }
    return {
      results,
      ratios: [
        ratio(
          results,
          "warm read c1 / raw pg SELECT",
          "warm read (miss, then promote) 1 KiB",
          1,
          "statehouse (telemetry on)",
          "raw pg SELECT by primary key",
        ),
        ratio(
          results,
          "warm read c16 / raw pg SELECT",
          "warm read (miss, then promote) 1 KiB",
          16,
          "statehouse (telemetry on)",
          "raw pg SELECT by primary key",
        ),
      ],
    };
  },
};
