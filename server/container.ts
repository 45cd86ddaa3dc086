// The composition root: builds each part once, from the clients it is handed, and connects them. Behaviour lives in the parts.
import path from "node:path";
import { composeAgents } from "./agents/compose";
import { agentModelFor } from "./agents/model";
import { purgeLegacyProfilesInBackground } from "./agents/profiles";
import { AdminSessions, sessionDenylistFor, sessionFromCookie } from "./auth/admin-sessions";
import { ApiKeyService } from "./auth/api-keys";
import { KeyRepository } from "./auth/key-repository";
import { AuthThrottle } from "./auth/auth-throttle";
import { ensureAdminKey } from "./auth/bootstrap-key";
import { type Clients, openClients } from "./clients";
import type { Config } from "./config";
import type { ApiServices } from "./http/services";
import { IdempotencyService } from "./http/idempotency";
import { localInvalidation, redisInvalidation } from "./invalidation";
import { namespaceRegistryFor } from "./lifecycle/declared-namespaces";
import { SweepRepository } from "./lifecycle/sweep-repository";
import { LifecycleSweeper } from "./lifecycle/sweeper";
import { errorName, logger } from "./logger";
import { publishersFor, relayErrorLog } from "./outbox/publishers";
import { OutboxRepository } from "./outbox/outbox-repository";
import { OutboxRelay } from "./outbox/relay";
import { bucketsFrom, guardedRateLimit, MemoryRateLimiter, RedisRateLimiter } from "./policies/rate-limit";
import { PolicyRepository } from "./policies/policy-repository";
import { MemoryOperationCounter, RedisOperationCounter, TenantPolicyService } from "./policies/tenant-policies";
import { ArchiveStore } from "./state/archive";
import { s3ArchiveOptions } from "./state/blob-s3";
import { MemoryStore } from "./state/memory";
import { PostgresStore } from "./state/postgres";
import { readiness } from "./state/readiness";
import { RedisStore } from "./state/redis";
import { StateService } from "./state/service";
import type { StateStore } from "./state/store";
import { composeTiers } from "./state/tiers";
import { CapacityMonitor } from "./telemetry/capacity";
import { CapacityRepository } from "./telemetry/capacity-repository";
import { StateGauges, tierProbes } from "./telemetry/gauges";
import { stateTelemetry } from "./telemetry/instrumented";
import { startTelemetry } from "./telemetry/start";
import { createWorkflows } from "./workflows";
import { RunRepository } from "./workflows/run-repository";
import { endUserOf } from "./memories/forget";

export type Services = ApiServices;

/** The state engine every process needs: the tiers with their health, the tiered store, the state service. */
export async function buildStateEngine(config: Config, clients: Clients) {
  const telemetry = startTelemetry();
  const namespaces = await namespaceRegistryFor(config); // built-ins + STATEHOUSE_NAMESPACES
  const { namespaceLabel, lifecycle, measure } = stateTelemetry(telemetry, namespaces);

  const { db, redis } = clients;
  const warm = new PostgresStore(db.prisma, db.kind, async () => {}, db.direct);
  const hot: StateStore = redis
    ? new RedisStore(redis, { keyPrefix: config.STATEHOUSE_KEY_PREFIX })
    : new MemoryStore();
  const s3 = s3ArchiveOptions(config);
  const archived = { subjectOf: endUserOf }; // users' archived sessions can be found to forget them
  const cold = s3
    ? ArchiveStore.onS3(s3, archived)
    : ArchiveStore.onFilesystem(path.join(config.dataDir, "archive"), archived);

  const { health, hotCall, patientHotCall, warmCall, tiers, tiered } = composeTiers({
    ...{ hot, warm, cold, redis, keyPrefix: config.STATEHOUSE_KEY_PREFIX, namespaces, measure, lifecycle },
    config,
  });
  const store = measure(tiered, "tiered");
  const { model, summarizer } = agentModelFor(config);
  // Queries outside the store's contract live in their owners' repositories, over the same client.
  const policies = new PolicyRepository(db.prisma);
  // Per-process caches (API keys, tenant policies) are invalidated across instances through Redis pub/sub.
  const invalidation = redis ? redisInvalidation(redis, config.STATEHOUSE_KEY_PREFIX) : localInvalidation;
  const tenantPolicies = new TenantPolicyService(
    policies,
    redis ? new RedisOperationCounter(redis, config.STATEHOUSE_KEY_PREFIX) : new MemoryOperationCounter(),
    {
      serverRegion: config.STATEHOUSE_REGION,
      isDurable: (ns) => namespaces.has(ns) && namespaces.durabilityOf(ns) === "durable",
      guard: warmCall,
      guardHot: hotCall,
      log: logger,
      onRefused: lifecycle,
      onChange: (tenant) => invalidation.publish({ type: "tenant_policy", tenant }),
    },
  ).start();
  const state = new StateService(store, namespaces, lifecycle, summarizer, (tenant, writes, actor) =>
    tenantPolicies.checkWrites(tenant, writes, actor),
  );
  const close = async () => {
    invalidation.close();
    await tenantPolicies.stop();
    await tiered.close();
  };
  return {
    ...{ config, telemetry, namespaces, health, hotCall, patientHotCall, warmCall, tiers, tiered, warm, store },
    archive: cold,
    ...{ model, state, tenantPolicies, invalidation, lifecycle, namespaceLabel, close, policies },
    runs: new RunRepository(db.prisma),
  };
}

export type StateEngine = Awaited<ReturnType<typeof buildStateEngine>>;

/** A workflow worker (`npm run worker`): the state engine and the run queue's workers, no HTTP. */
export async function buildWorker(config: Config, clients: Clients) {
  const engine = await buildStateEngine(config, clients);
  const workflows = createWorkflows({ ...engine, redis: clients.redis, meter: engine.telemetry.meter, log: logger });
  return {
    engine,
    async close() {
      await workflows.stop();
      await engine.close();
      await clients.close();
    },
  };
}

/** Everything the server runs on. Closing it closes the clients too. */
export async function buildServices(config: Config, clients?: Clients): Promise<Services> {
  clients ??= await openClients(config);
  const engine = await buildStateEngine(config, clients);
  const { telemetry, namespaces, hotCall, warmCall, tiers, warm, state, tenantPolicies, policies, invalidation } =
    engine;
  const { redis, db } = clients;
  const outbox = new OutboxRepository(db.prisma);
  const sessionCounts = new CapacityRepository(db.prisma);
  const capacity = new CapacityMonitor(telemetry.meter, {
    count: () => warmCall(() => sessionCounts.activeSessions()),
    agents: ["assistant", "custom"],
  });
  const gauges = new StateGauges(telemetry.meter, {
    namespaces,
    stores: tierProbes(tiers),
    outbox: () => outbox.stats(),
    refreshAlso: [() => capacity.refresh()],
  }).start(config.STATEHOUSE_STATS_INTERVAL_MS);

  const publishers = publishersFor(config, redis, hotCall);
  const relay = new OutboxRelay(outbox, publishers, { onError: relayErrorLog(publishers) });
  if (config.STATEHOUSE_OUTBOX_RELAY === "on") relay.start();
  const sweeper = new LifecycleSweeper({
    ...{ warm, hot: tiers.hot.inner, cold: tiers.cold, tiered: engine.tiered, namespaces, outbox },
    repository: new SweepRepository(db.prisma),
    tombstoneRetentionSeconds: config.STATEHOUSE_TOMBSTONE_RETENTION_SECONDS,
    onEvent: engine.lifecycle,
    onError: (err) => logger.warn("lifecycle sweep failed; the next one retries", { error: errorName(err) }),
  });
  sweeper.start(config.STATEHOUSE_SWEEP_INTERVAL_MS);
  // Profile vectors moved from the open `embeddings` namespace to the agents' own: drop what earlier versions left there.
  void purgeLegacyProfilesInBackground(state, () => policies.tenants(100_000));

  const keys = new ApiKeyService(new KeyRepository(db.prisma), config.STATEHOUSE_ADMIN_TOKEN, {
    guard: warmCall,
    onRevoke: (id) => invalidation.publish({ type: "api_key", id }),
  });
  await invalidation.subscribe((m) => (m.type === "api_key" ? keys.forget(m.id) : tenantPolicies.forget(m.tenant)));
  await ensureAdminKey(keys, config);
  const sessions = new AdminSessions(config.STATEHOUSE_SESSION_SECRET);
  const prefix = config.STATEHOUSE_KEY_PREFIX;
  const sessionDenylist = sessionDenylistFor(redis, prefix, engine.patientHotCall);
  // Failure counts shared through Redis when there is one; a Redis that cannot answer within the hot
  // timeout leaves each instance its own count (the failure path must not wait out a store timeout).
  const authThrottle = new AuthThrottle({
    failures: config.STATEHOUSE_AUTH_FAILURES,
    windowMs: config.STATEHOUSE_AUTH_FAILURE_WINDOW_SECONDS * 1000,
    redis: redis ? { client: redis, prefix, timeoutMs: config.STATEHOUSE_HOT_TIMEOUT_MS } : undefined,
  });
  const buckets = bucketsFrom(config);
  const limiter = redis ? new RedisRateLimiter(redis, prefix, buckets) : new MemoryRateLimiter(buckets);
  const idempotency = new IdempotencyService(engine.store);
  const agents = await composeAgents({ ...engine, redis, sql: db.prisma, replays: idempotency });
  // Workers start here too: the server runs workflow steps unless STATEHOUSE_WORKFLOW_WORKERS is 0.
  const workflows = createWorkflows({ ...engine, redis, meter: telemetry.meter, log: logger });
  return {
    ...{ config, namespaces, store: engine.store, state, telemetry, tiers, tenantPolicies, capacity, keys, sweeper },
    ...{ sessions, sessionDenylist, authThrottle, log: logger, workflows: workflows.service },
    ...agents.services,
    idempotency,
    session: (cookie) => sessionFromCookie(sessions, sessionDenylist, cookie),
    tenants: () => warmCall(() => policies.tenants()),
    outbox: (tenant) => warmCall(() => outbox.stats(tenant)),
    outboxRecent: async (limit, tenant) => ({
      publishers: publishers.map((p) => p.name),
      events: await warmCall(() => outbox.recent(limit, tenant)),
    }),
    rateLimit: guardedRateLimit(limiter, hotCall),
    readiness: () => readiness(tiers),
    async close() {
      await workflows.stop();
      gauges.stop();
      relay.stop();
      await sweeper.stop();
      await agents.close();
      await engine.close();
      await clients.close();
    },
  };
}
