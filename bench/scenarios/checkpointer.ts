import { randomBytes } from "node:crypto";
import type { RunnableConfig } from "@langchain/core/runnables";
import { AIMessage, type BaseMessage, HumanMessage } from "@langchain/core/messages";
import { type BaseCheckpointSaver, type Checkpoint, MemorySaver, uuid6 } from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { buildServices } from "../../server/container";
import { loadConfig } from "../../server/config";
import { StatehouseSaver } from "../../server/langgraph/checkpointer";
import {
  compare,
  QUICK,
  type Ratio,
  ratio,
  type Result,
  round3,
  type Scenario,
  type Variant,
  withTarget,
} from "../harness";

const WORDS =
  "the agent reads the order history then checks the refund policy and answers the customer about shipping dates invoices and returns".split(
    " ",
  );

/** A chat message of ~300 characters, like a short LangGraph turn. */
function message(i: number): BaseMessage {
  const content = Array.from({ length: 50 }, (_, j) => WORDS[(i * 7 + j * 13) % WORDS.length]).join(" ");
  return i % 2 ? new AIMessage({ content, id: `m-${i}` }) : new HumanMessage({ content, id: `m-${i}` });
}

/** The checkpoint a graph with a `messages` and a `step` channel writes at `step`. */
function checkpointAt(step: number, messages: BaseMessage[]): Checkpoint {
  return {
    v: 4,
    id: uuid6(0),
    ts: new Date().toISOString(),
    channel_values: { messages, step },
    channel_versions: { __start__: 1, messages: step, step },
    versions_seen: { __input__: {}, agent: { messages: Math.max(0, step - 1) } },
  };
}

/** A thread that grows one checkpoint per call, each the child of the previous one. */
function chain(saver: BaseCheckpointSaver, threadId: string, messagesAt: (step: number) => BaseMessage[]) {
  let parent: RunnableConfig = { configurable: { thread_id: threadId, checkpoint_ns: "" } };
  let step = 0;
  const configs: RunnableConfig[] = [];
  return {
    configs,
    async next(): Promise<RunnableConfig> {
      step++;
      parent = await saver.put(
        parent,
        checkpointAt(step, messagesAt(step)),
        { source: "loop", step, parents: {} },
        { messages: step, step },
      );
      configs.push(parent);
      return parent;
    },
  };
}

// The Statehouse checkpointer against LangGraph's PostgresSaver on the same PostgreSQL, and MemorySaver
// as the in-process ceiling: put, putWrites and getTuple (latest) of the same checkpoints, for a small
// thread (2 messages) and a 1000-message one; then the bytes a 200-step thread leaves in PostgreSQL.
export const checkpointer: Scenario = {
  name: "langgraph checkpointer",
  async run(ctx) {
    // The engine as the server builds it: Redis + PostgreSQL tiers, breakers, metrics, outbox relay.
    const services = await buildServices(
      loadConfig({
        DATABASE_URL: ctx.db.url,
        REDIS_URL: ctx.redis.url,
        STATEHOUSE_KEY_PREFIX: ctx.redis.prefix.slice(0, 32),
        STATEHOUSE_ADMIN_TOKEN: `bench-admin-${randomBytes(12).toString("hex")}`,
        STATEHOUSE_DATA_DIR: `/tmp/${ctx.redis.prefix.replace(/[^a-z0-9_-]/gi, "")}`,
      }),
    );
    ctx.defer(() => services.close());
    const savers: Record<string, BaseCheckpointSaver> = {
      "statehouse (StatehouseSaver)": new StatehouseSaver({ state: services.state, tenant: "bench-cp" }),
      PostgresSaver: new PostgresSaver(ctx.pool, undefined, { schema: "lg_bench" }),
      "MemorySaver (in-process)": new MemorySaver(),
    };
    await (savers.PostgresSaver as PostgresSaver).setup();

    const results: Result[] = [];
    const ratios: Ratio[] = [];
    const big = Array.from({ length: 1000 }, (_, i) => message(i));
    const sizes = [
      { label: "small thread", messagesAt: () => big.slice(0, 2) },
      { label: "1000-message thread", messagesAt: () => big },
    ];
    for (const size of sizes) {
      const chains = Object.fromEntries(
        Object.entries(savers).map(([name, saver]) => [
          name,
          chain(saver, `bench-${size.label.replace(/\W+/g, "-")}`, size.messagesAt),
        ]),
      );
      const variants = (op: (name: string) => Variant["op"]): Variant[] =>
        Object.keys(savers).map((name) => ({ name, op: op(name) }));

      const put = `checkpointer put (${size.label})`;
      results.push(
        ...(await compare(
          put,
          1,
          variants((name) => () => chains[name]!.next()),
        )),
      );
      // Writes land on the checkpoints just put, spread over them, a few tasks each (as a graph's steps do).
      const putWrites = `checkpointer putWrites (${size.label})`;
      results.push(
        ...(await compare(
          putWrites,
          1,
          variants((name) => (i) => {
            const configs = chains[name]!.configs;
            return savers[name]!.putWrites(configs[i % configs.length]!, [["messages", [message(i)]]], `task-${i}`);
          }),
        )),
      );
      const getTuple = `checkpointer getTuple latest (${size.label})`;
      for (const concurrency of QUICK ? [1] : [1, 16]) {
        results.push(
          ...(await compare(
            getTuple,
            concurrency,
            variants((name) => async () => {
              const t = await savers[name]!.getTuple({
                configurable: { thread_id: chains[name]!.configs[0]!.configurable!.thread_id, checkpoint_ns: "" },
              });
              if (!t) throw new Error(`${name}: no latest checkpoint`);
            }),
          )),
        );
      }
      const vs = (scenario: string, c: number, target: number, what: string) =>
        ratio(
          results,
          `checkpointer ${what} (${size.label}${c > 1 ? `, c${c}` : ""}) / PostgresSaver`,
          scenario,
          c,
          "statehouse (StatehouseSaver)",
          "PostgresSaver",
          target,
        );
      ratios.push(
        vs(getTuple, 1, 2, "getTuple"),
        ...(QUICK ? [] : [vs(getTuple, 16, 2, "getTuple")]),
        vs(put, 1, 1, "put"),
        vs(putWrites, 1, 1, "putWrites"),
      );
    }

    // Stored bytes after 200 steps (one checkpoint and one pending write per step, one message more each
    // step): the column sizes PostgreSQL reports (after its own compression) of every row the thread left.
    const steps = QUICK ? 50 : 200; // the target is about 200; quick mode (CI) only checks the measurement runs
    const thread = "bench-bytes";
    for (const name of ["statehouse (StatehouseSaver)", "PostgresSaver"]) {
      const c = chain(savers[name]!, thread, (step) => big.slice(0, step));
      for (let step = 1; step <= steps; step++)
        await savers[name]!.putWrites(await c.next(), [["messages", [message(step)]]], "agent");
    }
    const statehouseBytes = await columnBytes(
      ctx.pool,
      "public",
      ["state_records", "state_history"],
      "tenant = 'bench-cp' AND namespace = 'checkpoints' AND key LIKE $1",
      [`%:${thread}:%`],
    );
    const outboxBytes = await columnBytes(
      ctx.pool,
      "public",
      ["outbox_events"],
      "tenant = 'bench-cp' AND namespace = 'checkpoints' AND key LIKE $1",
      [`%:${thread}:%`],
    );
    const postgresBytes = await columnBytes(
      ctx.pool,
      "lg_bench",
      ["checkpoints", "checkpoint_blobs", "checkpoint_writes"],
      "thread_id = $1",
      [thread],
    );
    ratios.push(
      withTarget({
        name: `stored bytes per ${steps}-step thread, statehouse / PostgresSaver`,
        value: round3(statehouseBytes / postgresBytes),
        target: 1,
        direction: "max",
      }),
    );
    return {
      results,
      ratios,
      notes: [
        `Stored bytes per ${steps}-step thread: StatehouseSaver ${statehouseBytes} (its records and any history rows), PostgresSaver ${postgresBytes} (checkpoints + blobs + writes); Statehouse's outbox events for it add ${outboxBytes} until the relay's retention removes them.`,
      ],
      extra: {
        checkpointerBytes: {
          steps,
          statehouse: statehouseBytes,
          postgresSaver: postgresBytes,
          statehouseOutbox: outboxBytes,
        },
      },
    };
  },
};

/** Sum of pg_column_size over every column of the matching rows (the stored, possibly compressed, sizes). */
async function columnBytes(
  pool: import("pg").Pool,
  schema: string,
  tables: string[],
  where: string,
  params: unknown[],
): Promise<number> {
  let total = 0;
  for (const table of tables) {
    const cols = await pool.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
      [schema, table],
    );
    const sum = cols.rows.map((c) => `coalesce(pg_column_size("${c.column_name}"), 0)`).join(" + ");
    const r = await pool.query<{ bytes: string | null }>(
      `SELECT sum(${sum})::bigint AS bytes FROM "${schema}"."${table}" WHERE ${where}`,
      params,
    );
    total += Number(r.rows[0]?.bytes ?? 0);
  }
  return total;
}
