import { describe } from "vitest";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import type { Services } from "../../server/container";
import { StatehouseSaver } from "../../server/langgraph/checkpointer";
import { engineFromEnv, freshTenant } from "./engine";

// LangGraph's own conformance suite for checkpointers, against the real Redis + PostgreSQL engine.
let services: Services;
const initializer = {
  checkpointerName: "StatehouseSaver",
  beforeAllTimeout: 60_000,
  async beforeAll() {
    services = await engineFromEnv();
  },
  async afterAll() {
    await services?.close();
  },
  createCheckpointer: () => new StatehouseSaver({ state: services.state, tenant: freshTenant() }),
};
validate(initializer);
// Opt-in in the package (its own savers call it explicitly): the delta-channel walk over our storage.
describe("StatehouseSaver (delta channels)", () => deltaChannelHistoryTests(initializer));
