import path from "node:path";
import { z } from "zod";
import { parseTrustProxy } from "./http/client-address";
import { AGENT_TASK_TIMEOUT_MS_DEFAULT } from "./agents/text-limits";

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`,
  );

/** Every variable is optional: unset means the embedded default (design: Configuration). */
const Env = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_URL: url(["postgres:", "postgresql:"]).optional(),
  REDIS_URL: url(["redis:", "rediss:"]).optional(),
  STATEHOUSE_DATA_DIR: z.string().min(1).default("./.statehouse"),
  STATEHOUSE_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  STATEHOUSE_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,32}$/, "letters, digits, ':', '_' or '-', at most 32")
    .default("sh:"),
  // Each tier its own timeout: a hot tier that cannot answer fast is skipped fast (warm can answer);
  // warm and cold get longer. STATEHOUSE_STORE_TIMEOUT_MS (deprecated) is the fallback for warm and cold.
  STATEHOUSE_HOT_TIMEOUT_MS: positiveInt.default(250),
  STATEHOUSE_WARM_TIMEOUT_MS: positiveInt.optional(),
  STATEHOUSE_COLD_TIMEOUT_MS: positiveInt.optional(),
  STATEHOUSE_STORE_TIMEOUT_MS: positiveInt.optional(),
  STATEHOUSE_BREAKER_FAILURES: positiveInt.default(5),
  STATEHOUSE_BREAKER_OPEN_MS: positiveInt.default(5000),
  STATEHOUSE_RATE_LIMIT_RPS: positiveInt.default(1000),
  STATEHOUSE_RATE_LIMIT_BURST: positiveInt.default(2000),
  /** The bucket every key of a tenant shares; unset: the per-key values (a tenant gets one key's rate however many it mints). */
  STATEHOUSE_TENANT_RATE_LIMIT_RPS: z.coerce.number().positive().max(1e9).optional(), // may be fractional: 0.5 = one request per 2 s
  STATEHOUSE_TENANT_RATE_LIMIT_BURST: positiveInt.optional(),
  STATEHOUSE_MAX_BODY_BYTES: positiveInt.default(5 * 1024 * 1024),
  STATEHOUSE_STATS_INTERVAL_MS: positiveInt.default(15_000),
  /** Failed key checks and logins per client address per window before further attempts get 429. */
  STATEHOUSE_AUTH_FAILURES: positiveInt.default(20),
  STATEHOUSE_AUTH_FAILURE_WINDOW_SECONDS: positiveInt.default(60),
  /** Proxies (addresses, CIDR ranges, or `loopback`) whose X-Forwarded-For names the client; unset trusts none. */
  STATEHOUSE_TRUST_PROXY: z
    .string()
    .optional()
    .superRefine((v, ctx) => {
      try {
        parseTrustProxy(v);
      } catch (err) {
        ctx.addIssue({
          code: "custom",
          message: `must be comma-separated IP addresses or CIDR ranges: ${(err as Error).message}`,
        });
      }
    }),
  /** Time to receive a whole request (headers and body): slower ones get 408. Node's own default is 300 s. */
  STATEHOUSE_REQUEST_TIMEOUT_MS: positiveInt.default(15_000),
  STATEHOUSE_HEADERS_TIMEOUT_MS: positiveInt.default(10_000),
  STATEHOUSE_SESSION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  STATEHOUSE_OUTBOX_RELAY: z.enum(["on", "off"]).default("on"),
  /** How often the lifecycle sweeper runs; 0 turns it off in this instance. */
  STATEHOUSE_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000),
  STATEHOUSE_TOMBSTONE_RETENTION_SECONDS: positiveInt.default(7 * 24 * 3600),
  STATEHOUSE_WEBHOOK_URLS: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v.split(",").every((u) => /^https?:\/\/\S+$/.test(u.trim())),
      "must be comma-separated http(s) URLs",
    ),
  STATEHOUSE_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  STATEHOUSE_WORKFLOW_WORKERS: z.coerce.number().int().min(0).max(64).default(1),
  STATEHOUSE_WORKFLOW_LEASE_MS: z.coerce.number().int().min(300).max(3_600_000).default(30_000),
  STATEHOUSE_WORKFLOW_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  STATEHOUSE_WORKFLOW_SCAN_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  STATEHOUSE_WORKFLOW_EFFECTS_LOG: z.enum(["on", "off"]).default("off"),
  ARCHIVE_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
    .optional(),
  ARCHIVE_S3_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._/-]{1,200}$/, "letters, digits, '.', '_', '-' or '/', at most 200")
    .optional(),
  // The standard AWS variables, read here so the S3 archive is built from one validated config.
  AWS_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: url(["http:", "https:"]).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  LLM_BASE_URL: url(["http:", "https:"]).optional(),
  LLM_MODEL: z.string().min(1).optional(),
  LLM_API_KEY: z.string().min(1).optional(),
  /** Long-term memories' embeddings from an OpenAI-compatible /embeddings endpoint; the offline embedder when unset. */
  EMBEDDINGS_BASE_URL: url(["http:", "https:"]).optional(),
  EMBEDDINGS_MODEL: z.string().min(1).default("text-embedding-3-small"),
  EMBEDDINGS_API_KEY: z.string().min(1).optional(),
  PROMETHEUS_URL: url(["http:", "https:"]).optional(),
  METRICS_TOKEN: z.string().min(1).optional(),
  STATEHOUSE_NAMESPACES: z
    .string()
    .regex(/\.(ts|mts|js|mjs)$/, "must be the path of a .ts, .mts, .js or .mjs module")
    .optional(),
  /** Worker threads for agent text work (entities, intent, embeddings); 0 = on the event loop. Unset: 1 on ≤ 2 cores, else 2. */
  STATEHOUSE_AGENT_THREADS: z.coerce.number().int().min(0).max(16).optional(),
  STATEHOUSE_AGENT_TASK_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(AGENT_TASK_TIMEOUT_MS_DEFAULT),
  /** Web origins (besides the server's own) whose pages may call /api/mcp, comma-separated; unset: none. */
  STATEHOUSE_MCP_ALLOWED_ORIGINS: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v.split(",").every((u) => /^https?:\/\/[^\s/@]+$/.test(u.trim())),
      "must be comma-separated origins such as https://app.example.com",
    ),
  /** Upstreams a tenant's agent may call (`model.baseUrl`), comma-separated; unset: none. */
  STATEHOUSE_AGENT_BASE_URLS: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v.split(",").every((u) => /^https?:\/\/[^\s@]+$/.test(u.trim())),
      "must be comma-separated http(s) URLs without credentials",
    ),
  /** Environment variables an agent may name as its upstream key (`model.apiKeyEnv`), comma-separated; unset: none. */
  STATEHOUSE_AGENT_API_KEY_ENVS: z
    .string()
    .optional()
    .refine(
      (v) => v === undefined || v.split(",").every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n.trim())),
      "must be comma-separated environment variable names",
    ),
  STATEHOUSE_AGENT_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
  STATEHOUSE_AGENT_UPSTREAM_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  STATEHOUSE_REGION: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "lowercase letters, digits and '-', at most 32")
    .default("local"),
});

type TierTimeouts = { STATEHOUSE_WARM_TIMEOUT_MS: number; STATEHOUSE_COLD_TIMEOUT_MS: number };
export type Config = Omit<z.infer<typeof Env>, keyof TierTimeouts> & TierTimeouts & { dataDir: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Reads configuration from the environment. Empty strings count as unset (a common shell accident).
 * Throws ConfigError naming each bad variable and why — never echoing its value, which may be a secret.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`));
  }
  if (parsed.data.STATEHOUSE_WEBHOOK_URLS && !parsed.data.STATEHOUSE_WEBHOOK_SECRET) {
    throw new ConfigError([
      "STATEHOUSE_WEBHOOK_SECRET: required when STATEHOUSE_WEBHOOK_URLS is set (webhooks are signed)",
    ]);
  }
  if (parsed.data.STATEHOUSE_HEADERS_TIMEOUT_MS > parsed.data.STATEHOUSE_REQUEST_TIMEOUT_MS) {
    throw new ConfigError([
      "STATEHOUSE_HEADERS_TIMEOUT_MS: must not exceed STATEHOUSE_REQUEST_TIMEOUT_MS (the headers are part of the request)",
    ]);
  }
  // Statehouse's own settings hold its secrets (the admin token, database URL, …): never an agent's key.
  const ownSettings = (parsed.data.STATEHOUSE_AGENT_API_KEY_ENVS ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n in Env.shape || n.startsWith("STATEHOUSE_") || n.startsWith("AWS_") || n.startsWith("OTEL_"));
  if (ownSettings.length > 0) {
    throw new ConfigError([
      `STATEHOUSE_AGENT_API_KEY_ENVS: ${ownSettings.join(", ")} configure Statehouse itself and cannot be agents' keys`,
    ]);
  }
  if (Boolean(parsed.data.AWS_ACCESS_KEY_ID) !== Boolean(parsed.data.AWS_SECRET_ACCESS_KEY)) {
    throw new ConfigError(["AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: set both or neither"]);
  }
  const {
    STATEHOUSE_WARM_TIMEOUT_MS: warm,
    STATEHOUSE_COLD_TIMEOUT_MS: cold,
    STATEHOUSE_STORE_TIMEOUT_MS: legacy,
  } = parsed.data;
  return {
    ...parsed.data,
    STATEHOUSE_WARM_TIMEOUT_MS: warm ?? legacy ?? 2000,
    STATEHOUSE_COLD_TIMEOUT_MS: cold ?? legacy ?? 5000,
    dataDir: path.resolve(parsed.data.STATEHOUSE_DATA_DIR),
  };
}
