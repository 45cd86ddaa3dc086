// A relay process that publishes one batch to Redis Streams and is SIGKILLed before it can mark it
// published: the crash the outbox must survive. argv: <database url> <redis url> <stream>
import { Redis } from "ioredis";
import { OutboxRelay, RedisStreamPublisher } from "../../server/outbox/relay";
import { openWarmDatabase } from "../../server/db/warm-database";
import { OutboxRepository } from "../../server/outbox/outbox-repository";

const [databaseUrl, redisUrl, stream] = process.argv.slice(2) as [string, string, string];
const db = await openWarmDatabase({ url: databaseUrl }, { migrate: false });
const redis = new Redis(redisUrl);
const relay = new OutboxRelay(new OutboxRepository(db.prisma), [new RedisStreamPublisher(redis, stream)], {
  afterPublish: () => {
    process.kill(process.pid, "SIGKILL");
    return new Promise(() => {}); // never returns: the process is gone
  },
});
await relay.runOnce();
