import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesystemArchive } from "../../server/state/archive";
import { guarded } from "../../server/state/guarded";
import { MemoryStore } from "../../server/state/memory";
import { PostgresStore } from "../../server/state/postgres";
import { TieredStore } from "../../server/state/tiered";
import { stateStoreConformance } from "./state-store";

let dir: string;
stateStoreConformance({
  name: "tiered (memory + pglite + archive)",
  namespace: "kv",
  create: async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-tiered-"));
    return new TieredStore({
      hot: guarded(new MemoryStore()),
      warm: guarded(await PostgresStore.open({ pgliteDir: path.join(dir, "pglite") })),
      cold: guarded(new FilesystemArchive(path.join(dir, "archive"))),
      durabilityOf: () => "durable",
    });
  },
  destroy: async (store) => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  },
});
