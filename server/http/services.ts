// What route handlers may use: the services the composition root built (never a store client directly).
import type { AgentService } from "../agents/sessions";
import type { AdminSession, AdminSessions, SessionDenylist } from "../auth/admin-sessions";
import type { ApiKeyService, Principal } from "../auth/api-keys";
import type { AuthThrottle } from "../auth/auth-throttle";
import type { Config } from "../config";
import type { LifecycleSweeper } from "../lifecycle/sweeper";
import type { logger } from "../logger";
import type { RateDecision } from "../policies/rate-limit";
import type { TenantPolicyService } from "../policies/tenant-policies";
import type { GuardedStore } from "../state/guarded";
import type { NamespaceRegistry } from "../state/namespaces";
import type { OutboxEventSummary } from "../outbox/outbox-repository";
import type { ReadyReport } from "../state/readiness";
import type { StateService } from "../state/service";
import type { StateStore, TierName } from "../state/store";
import type { AgentInsights } from "../agents/insights";
import type { MemoryService } from "../memories/memories";
import type { UserForgetting } from "../memories/forget";
import type { StoreService } from "../langgraph/store";
import type { CapacityMonitor } from "../telemetry/capacity";
import type { Telemetry } from "../telemetry/start";
import type { WorkflowService } from "../workflows/service";
import type { IdempotencyService } from "./idempotency";

/** Everything the API runs on, built once by server/container.ts. */
export interface ApiServices {
  readonly config: Config;
  readonly namespaces: NamespaceRegistry;
  /** The tiered store (instrumented): every tier composed. Product code goes through `state` instead. */
  readonly store: StateStore;
  readonly telemetry: Telemetry;
  readonly state: StateService;
  readonly agents: AgentService;
  /** Per-agent figures for the admin API (definitions, live sessions, the last day's turns and tokens). */
  readonly agentInsights: AgentInsights;
  /** Long-term memories of tenants' users (REST, MCP, agents' turns). */
  readonly memories: MemoryService;
  /** Forgetting an end user: their memories, sessions, responses, Store items and replays. */
  readonly forgetting: UserForgetting;
  /** LangGraph's store (the Store API at /api/langgraph/store). */
  readonly langgraphStore: StoreService;
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
  outboxRecent(limit?: number, tenant?: string): Promise<{ publishers: string[]; events: OutboxEventSummary[] }>;
  /** Takes one token from the key's bucket and one from its tenant's; allows when the hot tier cannot answer. */
  rateLimit(principal: Pick<Principal, "keyId" | "tenant">): Promise<RateDecision>;
  readiness(): Promise<ReadyReport>;
  /** Per-tenant quotas and region pins (server/policies/tenant-policies.ts). */
  readonly tenantPolicies: TenantPolicyService;
  /** Active sessions per agent and their one-hour forecast. */
  readonly capacity: CapacityMonitor;
  close(): Promise<void>;
}
