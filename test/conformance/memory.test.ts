import { MemoryStore } from "../../server/state/memory";
import { guarded } from "../../server/state/guarded";
import { stateStoreConformance } from "./state-store";

stateStoreConformance({ name: "memory", create: async () => new MemoryStore() });
// The timeout/circuit-breaker wrapper is itself a store and must not change the contract.
stateStoreConformance({ name: "guarded(memory)", create: async () => guarded(new MemoryStore()) });

// The telemetry wrapper is a store too: recording around every call must not change the contract.
stateStoreConformance({
  name: "instrumented(memory)",
  create: async () => {
    const { MeterProvider } = await import("@opentelemetry/sdk-metrics");
    const { createInstruments } = await import("../../server/telemetry/instruments");
    const { instrumented } = await import("../../server/telemetry/instrumented");
    const instruments = createInstruments(new MeterProvider().getMeter("conformance"));
    return instrumented(new MemoryStore(), { tier: "hot", instruments, namespaceLabel: (n) => n });
  },
});
