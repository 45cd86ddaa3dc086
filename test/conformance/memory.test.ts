import { MemoryStore } from "../../server/state/memory";
import { guarded } from "../../server/state/guarded";
import { stateStoreConformance } from "./state-store";

stateStoreConformance({ name: "memory", create: async () => new MemoryStore() });
// The timeout/circuit-breaker wrapper is itself a store and must not change the contract.
stateStoreConformance({ name: "guarded(memory)", create: async () => guarded(new MemoryStore()) });
