import { randomBytes } from "node:crypto";
import OpenAI from "openai";
import { after, before } from "node:test";
import { createStatehouseClient, type StatehouseClient } from "../../server/client";
import { startServer, type RunningServer } from "./server";
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from "./services";

export interface ApiFixture {
  server: RunningServer;
  url: string;
  db: TestDatabase;
  redis: TestRedis;
  adminToken: string;
  env: Record<string, string>;
  admin: StatehouseClient;
  /** A typed client for a new key of `tenant` with `scopes`. */
  clientFor(tenant: string, scopes?: string[]): Promise<{ client: StatehouseClient; key: string; id: string }>;
  /** Raw fetch against the server with an API key. */
  call(path: string, init?: RequestInit & { key?: string }): Promise<Response>;
  /** `call` with `body` as JSON (`content-type: application/json` unless `headers` name another). */
  send(
    method: string,
    path: string,
    body: unknown,
    init?: { key?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  restart(extraEnv?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export const ALL_SCOPES = ["state:read", "state:write", "agents:invoke", "workflows:run"];

/** A real Statehouse process on a random port over a fresh PostgreSQL database and Redis prefix. */
export async function startApi(extraEnv: Record<string, string> = {}): Promise<ApiFixture> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const adminToken = `test-admin-${randomBytes(12).toString("hex")}`;
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
    STATEHOUSE_ADMIN_TOKEN: adminToken,
    STATEHOUSE_DATA_DIR: `/tmp/${redis.prefix.slice(0, -1)}`,
    ...extraEnv,
  };
  let server = await startServer(env);
  const fixture: ApiFixture = {
    server,
    get url() {
      return server.url;
    },
    db,
    redis,
    adminToken,
    env,
    get admin() {
      return createStatehouseClient({ baseUrl: server.url, apiKey: adminToken });
    },
    async clientFor(tenant, scopes = ALL_SCOPES) {
      const { data, response } = await fixture.admin.POST("/api/v1/admin/keys", { body: { tenant, scopes } });
      if (response.status !== 201 || !data) throw new Error(`could not create a key: ${response.status}`);
      return { client: createStatehouseClient({ baseUrl: server.url, apiKey: data.key }), key: data.key, id: data.id };
    },
    async call(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.key !== undefined && !headers.has("authorization")) headers.set("authorization", `Bearer ${init.key}`);
      return fetch(`${server.url}${path}`, { ...init, headers });
    },
    send(method, path, body, init = {}) {
      return fixture.call(path, {
        method,
        key: init.key,
        headers: { "content-type": "application/json", ...init.headers },
        body: JSON.stringify(body),
      });
    },
    async restart(more = {}) {
      await server.stop();
      server = await startServer({ ...env, ...more });
      fixture.server = server;
    },
    async close() {
      await server.stop();
      await db.drop().catch(() => {});
      await redis.cleanup().catch(() => {});
    },
  };
  return fixture;
}

/** Runs `fn` on a server started with `extraEnv`, closed afterwards whether `fn` passed or threw. */
export async function withApi<T>(extraEnv: Record<string, string>, fn: (api: ApiFixture) => Promise<T>): Promise<T> {
  const api = await startApi(extraEnv);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

/** A key a suite mints before its tests: of this tenant, with every scope unless `scopes` says otherwise. */
export type SuiteKey = string | { tenant: string; scopes: string[] };

export type ApiSuite<K extends string> = {
  /** The started server. */
  readonly api: ApiFixture;
  /** A typed client for each key, on the server's current address (so also after a restart). */
  readonly clients: { readonly [N in K]: StatehouseClient };
} & { readonly [N in K]: string };

/**
 * Registers a `describe`'s hooks for one server shared by its tests; call it inside `describe`, before the
 * suite's own `before` (which then runs after it) and after any `before` that `env` needs. Before the
 * tests: a server started with `env` (or what `env()` returns then) and, in order, a key for each entry of
 * `keys`, read as `suite.<name>`; after them, the server closed. Reading any of it earlier throws.
 */
export function apiSuite<K extends string = never>(
  options: { env?: Record<string, string> | (() => Record<string, string>); keys?: Record<K, SuiteKey> } = {},
): ApiSuite<K> {
  let api: ApiFixture | undefined;
  const keys = new Map<string, string>();
  const started = (): ApiFixture => {
    if (api === undefined) throw new Error("the API suite has not started: read it inside a test or hook");
    return api;
  };
  const keyOf = (name: string): string => {
    const key = keys.get(name);
    if (key === undefined) throw new Error(`the API suite has no key ${name} (yet)`);
    return key;
  };
  const suite = {
    get api() {
      return started();
    },
    clients: {},
  } as ApiSuite<K>;
  for (const name of Object.keys(options.keys ?? {})) {
    if (name in suite) throw new Error(`a suite key cannot be called ${name}`);
    Object.defineProperty(suite, name, { get: () => keyOf(name), enumerable: true });
    Object.defineProperty(suite.clients, name, {
      get: () => createStatehouseClient({ baseUrl: started().url, apiKey: keyOf(name) }),
      enumerable: true,
    });
  }
  before(async () => {
    api = await startApi(typeof options.env === "function" ? options.env() : options.env);
    for (const [name, spec] of Object.entries<SuiteKey>(options.keys ?? ({} as Record<K, SuiteKey>))) {
      const { tenant, scopes } = typeof spec === "string" ? { tenant: spec, scopes: undefined } : spec;
      keys.set(name, (await api.clientFor(tenant, scopes)).key);
    }
  });
  after(async () => {
    await api?.close();
  });
  return suite;
}

export const json = (value: unknown): RequestInit => ({
  method: "PUT",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

type Rate = { rps: number; burst: number };

/**
 * The rate-limit variables for a test server: per API key, and per tenant when given (a test that sends
 * thousands of requests on purpose raises them; one that tests the limit lowers them).
 */
export function rateLimitEnv(perKey: Rate, perTenant?: Rate): Record<string, string> {
  return {
    STATEHOUSE_RATE_LIMIT_RPS: String(perKey.rps),
    STATEHOUSE_RATE_LIMIT_BURST: String(perKey.burst),
    ...(perTenant && {
      STATEHOUSE_TENANT_RATE_LIMIT_RPS: String(perTenant.rps),
      STATEHOUSE_TENANT_RATE_LIMIT_BURST: String(perTenant.burst),
    }),
  };
}

/**
 * The in-app workflow workers of a test server: how many, how often they poll the queue and scan for
 * due runs, their lease, and whether steps log their effects (to STATEHOUSE_DATA_DIR/workflow-effects).
 */
export function workflowEnv(o: {
  workers: number;
  pollMs?: number;
  scanMs?: number;
  leaseMs?: number;
  effectsLog?: boolean;
}): Record<string, string> {
  return {
    STATEHOUSE_WORKFLOW_WORKERS: String(o.workers),
    ...(o.leaseMs !== undefined && { STATEHOUSE_WORKFLOW_LEASE_MS: String(o.leaseMs) }),
    ...(o.pollMs !== undefined && { STATEHOUSE_WORKFLOW_POLL_MS: String(o.pollMs) }),
    ...(o.scanMs !== undefined && { STATEHOUSE_WORKFLOW_SCAN_MS: String(o.scanMs) }),
    ...(o.effectsLog && { STATEHOUSE_WORKFLOW_EFFECTS_LOG: "on" }),
  };
}

/** The official `openai` client on a server's OpenAI door, unchanged but for no retries (tests see every answer). */
export function openaiClient(serverUrl: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: `${serverUrl}/api/openai/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
}
