import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PostgresStore } from "../../server/state/postgres";
import { stateStoreConformance } from "./state-store";

let dir: string;
stateStoreConformance({
  name: "pglite",
  create: async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-pglite-"));
    return PostgresStore.open({ pgliteDir: dir });
  },
  destroy: async (store) => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  },
});
