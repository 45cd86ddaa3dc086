import { RedisStore } from "../../server/state/redis";
import { createTestRedis } from "../helpers/services";
import { stateStoreConformance } from "./state-store";

const redis = createTestRedis();
stateStoreConformance({
  name: "redis",
  create: () => RedisStore.fromUrl(redis.url, { keyPrefix: redis.prefix }),
  destroy: async (store) => {
    await store.close();
    await redis.cleanup();
  },
});
