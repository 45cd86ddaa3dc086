import type { Scenario } from "../harness";
import { agentContext } from "./agent-context";
import { checkpointer } from "./checkpointer";
import { contention } from "./contention";
import { durableWrite } from "./durable-write";
import { hotRead } from "./hot-read";
import { memorySearch } from "./memory-search";
import { http } from "./http";
import { noisyNeighbour } from "./noisy-neighbour";
import { warmRead } from "./warm-read";

/**
 * Every scenario `npm run bench` runs, in this order. Adding one: a file in this folder exporting a
 * `Scenario` (see harness.ts), and one line here. `BENCH_ONLY=<name>,<name>` runs a subset.
 */
export const scenarios: Scenario[] = [
  hotRead,
  warmRead,
  durableWrite,
  contention,
  checkpointer,
  http,
  agentContext,
  noisyNeighbour,
  memorySearch,
];
