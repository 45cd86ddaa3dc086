import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FilesystemArchive } from "../../server/state/archive";
import { guarded } from "../../server/state/guarded";
import { PostgresStore } from "../../server/state/postgres";
import { RedisStore } from "../../server/state/redis";
import { TieredStore } from "../../server/state/tiered";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../helpers/services";
import { stateStoreConformance } from "./state-store";

let dir: string;
let db: TestDatabase;
const redis = createTestRedis();
stateStoreConformance({
  name: "tiered (redis + postgres + archive)",
  namespace: "kv",
  create: async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-tiered-"));
    db = await createTestDatabase();
    return new TieredStore({
      hot: guarded(await RedisStore.fromUrl(redis.url, { keyPrefix: redis.prefix })),
      warm: guarded(await PostgresStore.open({ url: db.url })),
      cold: guarded(new FilesystemArchive(dir)),
      durabilityOf: () => "durable",
    });
  },
  destroy: async (store) => {
    await store.close();
    await Promise.all([db.drop(), redis.cleanup(), rm(dir, { recursive: true, force: true })]);
  },
});
