import { describe } from "vitest";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import pg from "pg";

// The reference: LangGraph's PostgresSaver through the same suite, on the same PostgreSQL. Each
// checkpointer gets its own schema (the suite reuses thread ids across checkpointers).
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
let n = 0;
const initializer = {
  checkpointerName: "PostgresSaver",
  async afterAll() {
    await pool.end();
  },
  async createCheckpointer() {
    const saver = new PostgresSaver(pool, undefined, { schema: `lg_ref_${n++}` });
    await saver.setup();
    return saver;
  },
};
validate(initializer);
describe("PostgresSaver (delta channels)", () => deltaChannelHistoryTests(initializer));
