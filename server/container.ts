import { createHash } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { purgeLegacyProfiles } from "./agents/profiles";
import { AGENTS, AgentService } from "./agents/sessions";
import { type AgentModel, OfflineModel, OpenAICompatibleModel } from "./agents/model";
import { AuthThrottle } from "./auth/auth-throttle";
import { createTextAnalyzer } from "./agents/text-pool";
import {
  type AdminSession,
  AdminSessions,
  MemorySessionDenylist,
  RedisSessionDenylist,
  type SessionDenylist,
} from "./auth/admin-sessions";
import { ApiKeyService, type Principal } from "./auth/api-keys";
import type { Config } from "./config";
import { IdempotencyService } from "./http/idempotency";
import { logger } from "./logger";
import { LifecycleSweeper } from "./lifecycle/sweeper";
import { ExtractiveSummarizer, ModelSummarizer } from "./state/windows";
import {
  type EventPublisher,
  FileLogPublisher,
  OutboxRelay,
  RedisStreamPublisher,
  WebhookPublisher,
} from "./outbox/relay";
import {
  failOpen,
  MemoryRateLimiter,
  type RateDecision,
  type RateLimiter,
  RedisRateLimiter,
} from "./policies/rate-limit";
import { ArchiveStore } from "./state/archive";
import { s3ArchiveOptions } from "./state/blob-s3";
import type { CircuitState } from "./state/circuit-breaker";
import { guarded, type GuardedStore } from "./state/guarded";
import { StoreHealth } from "./state/health";
import { MemoryJournal, RedisJournal } from "./state/journal";
import { MemoryStore } from "./state/memory";
import { namespaceRegistryFor } from "./lifecycle/declared-namespaces";
import type { NamespaceRegistry } from "./state/namespaces";
import { PostgresStore } from "./state/postgres";
import { type RedisClient, RedisStore } from "./state/redis";
import { StateService } from "./state/service";
import type { StateStore, TierName } from "./state/store";
import { TieredStore } from "./state/tiered";
import { StateGauges } from "./telemetry/gauges";
import { instrumented } from "./telemetry/instrumented";
import { startTelemetry, type Telemetry } from "./telemetry/start";
import { MemoryOperationCounter, RedisOperationCounter, TenantPolicyService } from "./policies/tenant-policies";
import { CapacityMonitor, countActiveSessions } from "./telemetry/capacity";
import { createWorkflows } from "./workflows";
import type { WorkflowService } from "./workflows/service";

export interface StoreStatus {
  tier: TierName;
  backend: string;
  status: "up" | "down";
  circuit: CircuitState;
  latencyMs?: number;
}

export interface ReadyReport {
  ready: boolean;
  status: "ready" | "degraded" | "unavailable";
  stores: StoreStatus[];
}

export type RateLimitDecision = RateDecision;

/** Everything the process runs on, built once (design: one composition file, no scattered singletons). */
export interface Services {
  readonly config: Config;
  readonly namespaces: NamespaceRegistry;
  /** The tiered store (instrumented): every tier composed. Product code goes through `state` instead. */
  readonly store: StateStore;
  readonly telemetry: Telemetry;
  readonly state: StateService;
  readonly agents: AgentService;
  /** Workflow runs: start, status, cancel (this process's workers run them). */
  readonly workflows: WorkflowService;
  readonly keys: ApiKeyService;
  readonly idempotency: IdempotencyService;
  readonly tiers: Readonly<Record<TierName, GuardedStore>>;
  readonly log: typeof logger;
  /** Expiry enforcement and clean-up (started per STATEHOUSE_SWEEP_INTERVAL_MS). */
  readonly sweeper: LifecycleSweeper;
  readonly sessions: AdminSessions;
  /** Sessions ended by logout. */
  readonly sessionDenylist: SessionDenylist;
  /** Failed key checks and logins per client address (server/http/auth-failures.ts). */
  readonly authThrottle: AuthThrottle;
  /** A verified, not logged-out dashboard session from a cookie value, or undefined. */
  session(cookie: string | undefined): Promise<AdminSession | undefined>;
  /** Tenants that have state or keys. */
  tenants(): Promise<string[]>;
  /** Unpublished outbox events and the oldest one's age (of one tenant, with `tenant`). */
  outbox(tenant?: string): Promise<{ pending: number; lagSeconds: number }>;
  /** The newest outbox events (of one tenant, with `tenant`) and where the relay publishes them. */
  outboxRecent(
    limit?: number,
    tenant?: string,
  ): Promise<{ publishers: string[]; events: Awaited<ReturnType<PostgresStore["recentOutboxEvents"]>> }>;
  /** Takes one token from the key's bucket and one from its tenant's. Fails open (allows) when the hot tier cannot answer. */
  rateLimit(principal: Pick<Principal, "keyId" | "tenant">): Promise<RateLimitDecision>;
  readiness(): Promise<ReadyReport>;
  /** Per-tenant quotas and region pins (server/policies/tenant-policies.ts). */
  readonly tenantPolicies: TenantPolicyService;
  /** Active sessions per agent and their one-hour forecast. */
  readonly capacity: CapacityMonitor;
  close(): Promise<void>;
}

export async function buildServices(config: Config): Promise<Services> {
  const breakerOptions = (store: string) => ({
    failureThreshold: config.STATEHOUSE_BREAKER_FAILURES,
    openMs: config.STATEHOUSE_BREAKER_OPEN_MS,
    onStateChange: (state: CircuitState, previous: CircuitState) =>
      logger[state === "open" ? "warn" : "info"]("circuit breaker changed", { store, from: previous, to: state }),
  });
  const telemetry = startTelemetry();
  const namespaces = await namespaceRegistryFor(config); // built-ins + STATEHOUSE_NAMESPACES
  // Undeclared names (bad input) collapse to one attribute value, so they cannot blow up cardinality.
  const namespaceLabel = (ns: string) => (namespaces.has(ns) ? ns : "other");
  // Spans per state operation only when they go somewhere: unexported, they would cost a tenth of
  // hot-read throughput for nothing (requests still get a span, whose trace id logs and errors show).
  const measure = <S extends StateStore>(s: S, tier: "hot" | "warm" | "cold" | "tiered") =>
    instrumented(s, {
      tier,
      instruments: telemetry.instruments,
      tracer: telemetry.tracesExported ? telemetry.tracer : undefined,
      namespaceLabel,
    });
  const lifecycle = (event: string, namespace: string, count = 1) =>
    telemetry.instruments.lifecycleEvents.add(count, { event, namespace: namespaceLabel(namespace) });
  const warm = await PostgresStore.open(
    config.DATABASE_URL ? { url: config.DATABASE_URL } : { pgliteDir: path.join(config.dataDir, "pglite") },
  );
  const redis = config.REDIS_URL
    ? await RedisStore.fromUrl(config.REDIS_URL, { keyPrefix: config.STATEHOUSE_KEY_PREFIX })
    : undefined;
  const hot: StateStore = redis ?? new MemoryStore();
  const s3Archive = s3ArchiveOptions(config);
  const cold = s3Archive
    ? ArchiveStore.onS3(s3Archive)
    : ArchiveStore.onFilesystem(path.join(config.dataDir, "archive"));

  // One health (timeout + circuit breaker) per backend connection, shared by everything that uses it:
  // the Redis client serves the hot tier, rate limits, quotas, the session denylist, the write journal
  // and the run queue, so when one of them sees it time out the others fail fast instead of each
  // waiting out its own timeout. A hot timeout opens the circuit at once: warm can answer instead.
  const health = {
    hot: new StoreHealth({
      name: hot.name,
      timeoutMs: config.STATEHOUSE_HOT_TIMEOUT_MS,
      breaker: breakerOptions(hot.name),
      openOnTimeout: true,
    }),
    warm: new StoreHealth({
      name: warm.name,
      timeoutMs: config.STATEHOUSE_WARM_TIMEOUT_MS,
      breaker: breakerOptions(warm.name),
    }),
    cold: new StoreHealth({
      name: cold.name,
      timeoutMs: config.STATEHOUSE_COLD_TIMEOUT_MS,
      breaker: breakerOptions(cold.name),
    }),
  };
  const hotCall = <T>(fn: () => Promise<T>): Promise<T> => health.hot.call(fn);
  const tiers = {
    hot: guarded(hot, { health: health.hot }),
    warm: guarded(warm, { health: health.warm }),
    cold: guarded(cold, { health: health.cold }),
  };
  const tiered = new TieredStore({
    hot: measure(tiers.hot, "hot"),
    warm: measure(tiers.warm, "warm"),
    cold: measure(tiers.cold, "cold"),
    durabilityOf: namespaces.durabilityOf,
    hotTtlMsOf: namespaces.hotTtlMsOf,
    whenWarmDownOf: namespaces.whenWarmDownOf,
    // Buffering (warm down) makes hot the version authority and the journal the only durable copy: a
    // command abandoned early there may still apply later, so these wait as long as warm would.
    bufferHot: guarded(hot, {
      health: health.hot,
      timeoutMs: Math.max(config.STATEHOUSE_HOT_TIMEOUT_MS, config.STATEHOUSE_WARM_TIMEOUT_MS),
    }),
    journal: redis
      ? new RedisJournal(redis.client, config.STATEHOUSE_KEY_PREFIX, (command) =>
          health.hot.call(command, Math.max(config.STATEHOUSE_HOT_TIMEOUT_MS, config.STATEHOUSE_WARM_TIMEOUT_MS)),
        )
      : new MemoryJournal(),
    onBufferedDropped: (entry, reason) => {
      lifecycle("buffered_dropped", entry.namespace);
      logger.warn("a buffered write could not be applied when the warm tier returned; dropped", {
        namespace: entry.namespace,
        reason,
        version: entry.version,
      });
    },
    onHotWriteFailed: (ref) => {
      lifecycle("hot_write_failed", ref.namespace);
      logger.warn("hot copy not updated after a durable write; key kept out of hot until repaired", {
        namespace: ref.namespace,
      });
    },
  });
  const store = measure(tiered, "tiered");
  const model: AgentModel = config.LLM_BASE_URL
    ? new OpenAICompatibleModel({
        baseURL: config.LLM_BASE_URL,
        model: config.LLM_MODEL ?? "gpt-4o-mini",
        apiKey: config.LLM_API_KEY,
      })
    : new OfflineModel();
  // Windows are summarized by the configured model when there is one, extractively otherwise.
  const summarizer =
    model instanceof OpenAICompatibleModel
      ? new ModelSummarizer((prompt) => model.complete(prompt), model.name)
      : new ExtractiveSummarizer();
  const state = new StateService(store, namespaces, lifecycle, summarizer);
  /** Direct warm queries (not StateStore calls) share the warm tier's health: its timeout, breaker, and a clear `unavailable`. */
  const guardedCall = <T>(fn: () => Promise<T>): Promise<T> => health.warm.call(fn);
  const tenantPolicies = new TenantPolicyService(
    warm.prisma,
    redis ? new RedisOperationCounter(redis.client, config.STATEHOUSE_KEY_PREFIX) : new MemoryOperationCounter(),
    {
      serverRegion: config.STATEHOUSE_REGION,
      isDurable: (ns) => namespaces.has(ns) && namespaces.durabilityOf(ns) === "durable",
      guard: guardedCall,
      guardHot: hotCall,
      log: logger,
      onRefused: lifecycle,
    },
  ).start();
  state.writeGuard = (tenant, writes, actor) => tenantPolicies.checkWrites(tenant, writes, actor);
  const capacity = new CapacityMonitor(telemetry.meter, {
    count: () => guardedCall(countActiveSessions(warm.prisma)),
    agents: AGENTS,
  });

  const gauges = new StateGauges(telemetry.meter, {
    namespaces,
    stores: (Object.entries(tiers) as [TierName, GuardedStore][]).map(([tier, s]) => ({
      tier,
      backend: s.name,
      circuit: () => s.breaker.state,
      ping: () => s.ping(),
      stats: s.inner.stats ? () => s.stats!() : undefined,
    })),
    outbox: () => warm.outboxStats(),
    refreshAlso: [() => capacity.refresh()],
  }).start(config.STATEHOUSE_STATS_INTERVAL_MS);

  // The outbox relay: Redis Streams when Redis is configured, signed webhooks when URLs are given, and
  // JSON lines under the data directory when neither is (so events never pile up unpublished).
  const publishers: EventPublisher[] = [];
  if (redis)
    publishers.push(
      new RedisStreamPublisher(redis.client, `${config.STATEHOUSE_KEY_PREFIX}events`, undefined, hotCall),
    );
  for (const url of config.STATEHOUSE_WEBHOOK_URLS?.split(",")
    .map((u) => u.trim())
    .filter(Boolean) ?? []) {
    publishers.push(new WebhookPublisher(url, config.STATEHOUSE_WEBHOOK_SECRET!));
  }
  if (publishers.length === 0) publishers.push(new FileLogPublisher(path.join(config.dataDir, "events")));
  let lastRelayError = 0;
  const relay = new OutboxRelay(warm.prisma, publishers, {
    onError: (err) => {
      if (Date.now() - lastRelayError < 30_000) return;
      lastRelayError = Date.now();
      logger.warn("outbox relay could not publish; will retry", {
        error: err instanceof Error ? err.name : "error",
        publishers: publishers.map((p) => p.name),
      });
    },
  });
  if (config.STATEHOUSE_OUTBOX_RELAY === "on") relay.start();
  const sweeper = new LifecycleSweeper({
    warm,
    hot,
    cold: tiers.cold,
    tiered,
    namespaces,
    tombstoneRetentionSeconds: config.STATEHOUSE_TOMBSTONE_RETENTION_SECONDS,
    onEvent: (event, namespace, count) =>
      telemetry.instruments.lifecycleEvents.add(count, {
        event,
        namespace: namespace === "all" ? "all" : namespaceLabel(namespace),
      }),
    onError: (err) =>
      logger.warn("lifecycle sweep failed; the next one retries", { error: err instanceof Error ? err.name : "error" }),
  });
  sweeper.start(config.STATEHOUSE_SWEEP_INTERVAL_MS);
  // Profile vectors moved from the open `embeddings` namespace to the agents' own: drop what earlier versions left there (in the background).
  void warm
    .tenants(100_000)
    .then((tenants) => purgeLegacyProfiles(state, tenants))
    .then(
      (removed) => removed > 0 && logger.info("deleted profile vectors left in the embeddings namespace", { removed }),
    )
    .catch((err) =>
      logger.warn("could not purge old profile vectors from embeddings; the next start retries", {
        error: err instanceof Error ? err.name : "error",
      }),
    );
  const keys = new ApiKeyService(warm.prisma, config.STATEHOUSE_ADMIN_TOKEN);
  keys.guard = guardedCall;
  if (!config.STATEHOUSE_ADMIN_TOKEN) await keys.upgradeBootstrapKey(); // keys made before platform:admin existed
  if (!config.STATEHOUSE_ADMIN_TOKEN && !(await keys.hasAdminKey())) await bootstrapAdminKey(keys, config);

  // Per-process caches (API keys) are invalidated across instances through Redis pub/sub.
  let subscriber: RedisClient | undefined;
  if (redis) {
    const channel = `${config.STATEHOUSE_KEY_PREFIX}invalidate`;
    const sub = (redis.client as { duplicate(): RedisClient }).duplicate();
    subscriber = sub;
    sub.on("error", () => {});
    // The store's client connects lazily (so does its duplicate): connect before subscribing.
    if ((sub as { status?: string }).status === "wait")
      await (sub as unknown as { connect(): Promise<void> }).connect().catch(() => {});
    sub.on("message", (_channel: string, message: string) => {
      try {
        const m = JSON.parse(message) as { type?: string; id?: string; tenant?: string };
        if (m.type === "api_key" && typeof m.id === "string") keys.forget(m.id);
        if (m.type === "tenant_policy" && typeof m.tenant === "string") tenantPolicies.forget(m.tenant);
      } catch {
        // not ours
      }
    });
    await sub
      .subscribe(channel)
      .catch(() =>
        logger.warn("could not subscribe to cache invalidations; revocations reach other instances within 5 s"),
      );
    keys.onRevoke = (id) => void redis.client.publish(channel, JSON.stringify({ type: "api_key", id })).catch(() => {});
    tenantPolicies.onChange = (tenant) =>
      void redis.client.publish(channel, JSON.stringify({ type: "tenant_policy", tenant })).catch(() => {});
  }

  const sessions = new AdminSessions(config.STATEHOUSE_SESSION_SECRET);
  // Failure counts shared through Redis when there is one; a Redis that cannot answer within the hot
  // timeout leaves each instance its own count (the failure path must not wait out a store timeout).
  const authThrottle = new AuthThrottle({
    failures: config.STATEHOUSE_AUTH_FAILURES,
    windowMs: config.STATEHOUSE_AUTH_FAILURE_WINDOW_SECONDS * 1000,
    redis: redis
      ? { client: redis.client, prefix: config.STATEHOUSE_KEY_PREFIX, timeoutMs: config.STATEHOUSE_HOT_TIMEOUT_MS }
      : undefined,
  });
  const denylist: SessionDenylist = redis
    ? new RedisSessionDenylist(redis.client as never, config.STATEHOUSE_KEY_PREFIX)
    : new MemorySessionDenylist();
  const sessionDenylist: SessionDenylist = {
    revoke: (s) => hotCall(() => denylist.revoke(s)),
    isRevoked: (sid) => hotCall(() => denylist.isRevoked(sid)),
  };

  const buckets = {
    key: { ratePerSecond: config.STATEHOUSE_RATE_LIMIT_RPS, burst: config.STATEHOUSE_RATE_LIMIT_BURST },
    tenant: {
      ratePerSecond: config.STATEHOUSE_TENANT_RATE_LIMIT_RPS ?? config.STATEHOUSE_RATE_LIMIT_RPS,
      burst: config.STATEHOUSE_TENANT_RATE_LIMIT_BURST ?? config.STATEHOUSE_RATE_LIMIT_BURST,
    },
  };
  const limiter: RateLimiter = redis
    ? new RedisRateLimiter(redis.client, config.STATEHOUSE_KEY_PREFIX, buckets)
    : new MemoryRateLimiter(buckets);

  // Agent text work (entities, intent, embeddings) runs in worker threads, fair per tenant, each task
  // with a time budget. Small: on two cores one thread leaves the other to the event loop.
  const text = await createTextAnalyzer({
    threads: config.STATEHOUSE_AGENT_THREADS ?? (availableParallelism() <= 2 ? 1 : 2),
    timeoutMs: config.STATEHOUSE_AGENT_TASK_TIMEOUT_MS,
    log: logger,
  });

  // Workers start here, in every process built from this container (the app and `npm run worker`).
  const workflows = createWorkflows({
    config,
    state,
    warm,
    redis: redis?.client,
    meter: telemetry.meter,
    log: logger,
    guardedCall,
    hotCall,
  });

  return {
    config,
    namespaces,
    store,
    state,
    agents: new AgentService(state, model, telemetry.instruments, text),
    workflows: workflows.service,
    keys,
    telemetry,
    idempotency: new IdempotencyService(store),
    tiers,
    log: logger,
    sweeper,
    sessions,
    sessionDenylist,
    authThrottle,
    async session(cookie) {
      const s = sessions.verify(cookie);
      if (!s) return undefined;
      // A denylist that cannot answer (Redis down) does not lock operators out: the signature still holds.
      return (await sessionDenylist.isRevoked(s.sid).catch(() => false)) ? undefined : s;
    },
    tenants: () => guardedCall(() => warm.tenants()),
    outbox: (tenant) => guardedCall(() => warm.outboxStats(tenant)),
    outboxRecent: async (limit, tenant) => ({
      publishers: publishers.map((p) => p.name),
      events: await guardedCall(() => warm.recentOutboxEvents(limit, tenant)),
    }),
    async rateLimit({ keyId, tenant }) {
      try {
        // Through the hot tier's health: an open circuit (or a Redis that already timed out in this
        // request) costs nothing here, and a timeout here makes the hot tier's calls fail fast.
        return await hotCall(() => limiter.take(keyId, tenant));
      } catch {
        return failOpen(limiter);
      }
    },
    async readiness() {
      const stores = await Promise.all(
        (Object.entries(tiers) as [TierName, GuardedStore][]).map(async ([tier, s]): Promise<StoreStatus> => {
          const started = performance.now();
          try {
            await s.ping();
            return {
              tier,
              backend: s.name,
              status: "up",
              circuit: s.breaker.state,
              latencyMs: round(performance.now() - started),
            };
          } catch {
            return { tier, backend: s.name, status: "down", circuit: s.breaker.state };
          }
        }),
      );
      // The warm tier is the source of truth: without it nothing durable can be acknowledged.
      const warmUp = stores.find((s) => s.tier === "warm")!.status === "up";
      const allUp = stores.every((s) => s.status === "up");
      return { ready: warmUp, status: !warmUp ? "unavailable" : allUp ? "ready" : "degraded", stores };
    },
    tenantPolicies,
    capacity,
    async close() {
      await workflows.stop();
      await tenantPolicies.stop();
      gauges.stop();
      relay.stop();
      await sweeper.stop();
      subscriber?.disconnect();
      await text.close();
      await tiered.close();
    },
  };
}

/**
 * First start without STATEHOUSE_ADMIN_TOKEN: create an admin key for tenant `default`. The key is
 * written to a file of its own backend (see adminKeyFile; mode 0600) and shown once when stdout is a
 * terminal; it never goes to the logs, which only say where the file is.
 */
async function bootstrapAdminKey(keys: ApiKeyService, config: Config): Promise<void> {
  const created = await keys.create({
    tenant: "default",
    scopes: ["state:read", "state:write", "agents:invoke", "workflows:run", "admin", "platform:admin"],
    name: "bootstrap admin",
  });
  await mkdir(config.dataDir, { recursive: true });
  const file = adminKeyFile(config);
  await writeFile(file, `${created.key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  if (process.stdout.isTTY)
    process.stdout.write(`\n  Admin API key (shown once, also saved to ${file}):\n  ${created.key}\n\n`);
  logger.info("created the bootstrap admin key", { keyId: created.id, savedTo: file });
}

/**
 * Where the bootstrap admin key of this deployment's warm tier is kept. One file per backend, so moving
 * from the embedded database to DATABASE_URL (or between databases) never overwrites the key that still
 * opens the other one: `admin-key` for the embedded PGlite, `admin-key-<12 hex>` for a PostgreSQL
 * database, named by a digest of its host, port and database name (never its credentials).
 */
export function adminKeyFile(config: Pick<Config, "dataDir" | "DATABASE_URL">): string {
  if (!config.DATABASE_URL) return path.join(config.dataDir, "admin-key");
  const u = new URL(config.DATABASE_URL);
  const id = createHash("sha256")
    .update(`${u.hostname}:${u.port || "5432"}${u.pathname}`)
    .digest("hex")
    .slice(0, 12);
  return path.join(config.dataDir, `admin-key-${id}`);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
