// The conformance suite on a 3-master Redis Cluster the test starts itself: hash-tagged keys keep each
// record's script on one slot; the list index lives in its own slot.
import { Cluster } from "ioredis";
import { RedisStore } from "../../server/state/redis";
import { type OwnRedisCluster, startOwnRedisCluster } from "../helpers/redis-server";
import { stateStoreConformance } from "./state-store";

let cluster: OwnRedisCluster;
stateStoreConformance({
  name: "redis cluster (3 masters)",
  create: async () => {
    cluster = await startOwnRedisCluster();
    const store = await RedisStore.fromUrl(cluster.url, { keyPrefix: "shc:" });
    if (!(store.client instanceof Cluster)) throw new Error("expected the Cluster client");
    return store;
  },
  destroy: async (store) => {
    await store.close();
    await cluster.stop();
  },
});
