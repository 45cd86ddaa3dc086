import { PostgresStore } from "../../server/state/postgres";
import { createTestDatabase, type TestDatabase } from "../helpers/services";
import { stateStoreConformance } from "./state-store";

let db: TestDatabase;
stateStoreConformance({
  name: "postgres",
  create: async () => {
    db = await createTestDatabase();
    return PostgresStore.open({ url: db.url });
  },
  destroy: async (store) => {
    await store.close();
    await db.drop();
  },
});
