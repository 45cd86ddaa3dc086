import { EMBEDDING_DIM, embed } from "../../server/agents/embedding";
import { extractEntities, detectIntent } from "../../server/agents/nlp";
import { randomBytes } from "node:crypto";
import { encodeVector, OfflineEmbedder } from "../../server/memories/embedder";
import { memoriesFrom } from "../../server/memories/extraction";
import { searchTerms } from "../../server/memories/ranking";
import { quantile, type Result, type Scenario, startBenchServices } from "../harness";
import pg from "pg";

// Issue 17: long-term memory search latency at 1 000 and 10 000 memories for one user and 100 000 for one
// tenant (BENCH_QUICK: 20 000), side by side with PostgreSQL's full-text query alone on the same rows
// (the baseline: what the text index answers without the vector scan, fusion and reads); and the cost
// of promoting one agent turn (extraction, then writes) beside one durable write of the same size.

const TOPICS = ["tea", "cycling", "cello", "lisbon", "lentils", "sailing", "python", "gardening", "chess", "jazz"];
const fact = (i: number) =>
  `Fact ${i}: the user ${["likes", "plays", "visited", "cooks", "studies"][i % 5]} ${TOPICS[i % TOPICS.length]} ` +
  `${TOPICS[(i * 7) % TOPICS.length]} on ${["mondays", "weekends", "holidays"][i % 3]} with friend ${i % 97}.`;

/** Inserts `count` memories of `userId` straight into state_records (seeding; the service writes one at a time). */
async function seed(pool: pg.Pool, tenant: string, userId: string, count: number, from = 0): Promise<void> {
  const model = new OfflineEmbedder().model;
  const now = new Date();
  for (let start = 0; start < count; start += 2000) {
    const keys: string[] = [];
    const values: string[] = [];
    const sizes: number[] = [];
    for (let i = start; i < Math.min(count, start + 2000); i++) {
      const text = fact(from + i);
      const value = JSON.stringify({
        userId,
        agent: null,
        text,
        kind: "fact",
        subject: null,
        source: { type: "api" },
        createdAt: now.toISOString(),
        embedding: { model, vector: encodeVector(Float32Array.from(embed(text, EMBEDDING_DIM))) },
      });
      keys.push(`mem_${randomBytes(12).toString("hex")}`);
      values.push(value);
      sizes.push(Buffer.byteLength(value));
    }
    await pool.query(
      `INSERT INTO state_records (tenant, namespace, key, value, version, schema_version, created_at, updated_at,
         size_bytes, deleted, archived)
       SELECT $1, 'memories', k, v::json, 1, 1, $2, $2, s, false, false
       FROM unnest($3::text[], $4::text[], $5::int[]) AS t(k, v, s)`,
      [tenant, now, keys, values, sizes],
    );
  }
  await pool.query("ANALYZE state_records");
}

export const memorySearch: Scenario = {
  name: "long-term memory search",
  async run(ctx) {
    const { services, close } = await startBenchServices();
    const pool = new pg.Pool({ connectionString: services.config.DATABASE_URL, max: 4 });
    ctx.defer(async () => {
      await pool.end();
      await close();
    });
    const iterations = ctx.quick ? 20 : 200;
    const queries = ["what does the user like to drink", "which instrument do they play", "when do they go sailing"];
    const results: Result[] = [];
    const ratios: { name: string; value: number }[] = [];
    const notes: string[] = [];
    const tenantTotal = ctx.quick ? 20_000 : 100_000;

    const measure = async (label: string, tenant: string, userId: string) => {
      const timed = async (op: (q: string) => Promise<unknown>) => {
        const latencies: number[] = [];
        for (let i = 0; i < iterations; i++) {
          const t = performance.now();
          await op(queries[i % queries.length]!);
          latencies.push(performance.now() - t);
        }
        return latencies;
      };
      const search = await timed((query) => services.memories.search(tenant, { userId, query, limit: 10 }));
      // The same search right after the user's memories changed: the process's vector cache reads them
      // again (the change itself, one UPDATE of a memory's updated_at, is outside the timing).
      const touched = (
        await pool.query(
          `SELECT key FROM state_records WHERE tenant = $1 AND namespace = 'memories' AND value->>'userId' = $2 LIMIT 1`,
          [tenant, userId],
        )
      ).rows[0]!.key as string;
      const afterChange: number[] = [];
      for (let i = 0; i < Math.max(5, iterations / 4); i++) {
        await pool.query(
          `UPDATE state_records SET updated_at = clock_timestamp() WHERE tenant = $1 AND namespace = 'memories' AND key = $2`,
          [tenant, touched],
        );
        const t = performance.now();
        await services.memories.search(tenant, { userId, query: queries[i % queries.length]!, limit: 10 });
        afterChange.push(performance.now() - t);
      }
      // The baseline: the full-text half alone, straight on PostgreSQL (same SQL, no vectors, no fusion, no reads).
      const fullText = await timed((query) =>
        pool.query(
          `SELECT key FROM state_records, to_tsquery('english'::regconfig, $3) AS q
           WHERE tenant = $1 AND namespace = 'memories' AND value->>'userId' = $2
             AND NOT deleted AND NOT archived AND (expires_at IS NULL OR expires_at > now())
             AND search_text @@ q
           ORDER BY ts_rank_cd(search_text, q) DESC LIMIT 200`,
          [
            tenant,
            userId,
            searchTerms(query)
              .map((t) => `'${t}'`)
              .join(" | ") || "''",
          ],
        ),
      );
      const row = (variant: string, xs: number[]): Result => ({
        scenario: `memory search, ${label}`,
        variant,
        concurrency: 1,
        opsPerSec: Math.round(1000 / (xs.reduce((a, b) => a + b, 0) / xs.length)),
        p50Ms: quantile(xs, 0.5),
        p99Ms: quantile(xs, 0.99),
      });
      const hybrid = row("hybrid search (full text + exact vector scan + fusion)", search);
      const baseline = row("PostgreSQL full-text query alone (baseline)", fullText);
      const reread = row("hybrid search right after the user's memories changed (vectors read again)", afterChange);
      results.push(hybrid, reread, baseline);
      ratios.push({
        name: `memory search p50, hybrid / full text alone, ${label}`,
        value: round2(hybrid.p50Ms! / baseline.p50Ms!),
      });
      console.error(
        `  memory search ${label}: p50 ${hybrid.p50Ms} ms p99 ${hybrid.p99Ms} ms, after a change p50 ${reread.p50Ms} ms ` +
          `(full text alone p50 ${baseline.p50Ms} ms)`,
      );
    };

    await seed(pool, "bench-a", "one-thousand", 1000);
    await measure("1 000 memories of one user", "bench-a", "one-thousand");
    await seed(pool, "bench-b", "ten-thousand", 10_000);
    await measure("10 000 memories of one user", "bench-b", "ten-thousand");
    const users = tenantTotal / 1000;
    for (let u = 0; u < users; u++) await seed(pool, "bench-c", `user-${u}`, 1000, u * 1000);
    await measure(
      `${tenantTotal.toLocaleString("en-US")} memories of one tenant (1 000 per user)`,
      "bench-c",
      "user-7",
    );

    // Promotion of one agent turn: extraction (CPU), then the memories' writes, beside one durable write.
    const turn = "Hi! My email is ada@example.com, I am vegetarian and my favourite colour is green.";
    const extractionUs: number[] = [];
    const promotion: number[] = [];
    const write: number[] = [];
    for (let i = 0; i < iterations; i++) {
      let t = performance.now();
      const extracted = memoriesFrom(turn, extractEntities(turn), detectIntent(turn));
      extractionUs.push((performance.now() - t) * 1000);
      t = performance.now();
      for (const m of extracted) await services.memories.add("bench-d", { userId: `u${i}`, ...m }, { type: "api" });
      promotion.push(performance.now() - t);
      t = performance.now();
      await services.state.put({ tenant: "bench-d", namespace: "kv", key: `turn-${i}` }, { text: turn });
      write.push(performance.now() - t);
    }
    const p50 = (xs: number[]) => quantile(xs, 0.5)!;
    notes.push(
      `Promoting one agent turn ("${turn}", ${memoriesFrom(turn, extractEntities(turn), detectIntent(turn)).length} memories): ` +
        `extraction p50 ${round2(p50(extractionUs))} µs (entities, intent, patterns), writes p50 ${p50(promotion)} ms; ` +
        `one durable state write of the turn p50 ${p50(write)} ms → ${round2(p50(promotion) / p50(write))}× a write. It runs off the request path.`,
    );
    ratios.push({
      name: "promoting one agent turn / one durable write (p50)",
      value: round2(p50(promotion) / p50(write)),
    });
    return { results, ratios, notes };
  },
};

const round2 = (n: number) => Math.round(n * 100) / 100;
