// A relay process that publishes one batch to Redis Streams and is SIGKILLed before it can mark it
// published: the crash the outbox must survive. argv: <database url> <redis url> <stream>
import { Redis } from "ioredis";
import { OutboxRelay, RedisStreamPublisher } from "../../server/outbox/relay";
import { PostgresStore } from "../../server/state/postgres";

const [databaseUrl, redisUrl, stream] = process.argv.slice(2) as [string, string, string];
const warm = await PostgresStore.open({ url: databaseUrl }, { migrate: false });
const redis = new Redis(redisUrl);
const relay = new OutboxRelay(warm.prisma, [new RedisStreamPublisher(redis, stream)], {
  afterPublish: () => {
    process.kill(process.pid, "SIGKILL");
    return new Promise(() => {}); // never returns: the process is gone
  },
});
await relay.runOnce();
