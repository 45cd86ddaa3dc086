// What the admin API and the dashboard's Agents page show of a tenant's agents: each definition with its
// live sessions and the last day's turns, latency and tokens; an agent's newest conversations.
import type { AgentDefinitions, AgentView } from "./definitions";
import type { AgentInsightsRepository, ConversationRow } from "./insights-repository";
import { type HourCounts, summarize, type UsageLedger, type UsageSummary } from "./usage";

type Call = <T>(fn: () => Promise<T>) => Promise<T>;

/** The most agents one overview covers (the rest are named by `truncated`); each costs a day of hourly reads. */
export const MAX_AGENTS_IN_OVERVIEW = 200;
const HOURS = 24;
const HOUR_MS = 3_600_000;

export interface AgentInsight {
  name: string;
  builtIn: boolean;
  version: number;
  description: string | null;
  model: { provider: string; name: string | null };
  updatedAt: string | null;
  activeSessions: number;
  last24h: UsageSummary;
  /** One point per hour, oldest first, hours without turns as zeros. */
  hourly: { at: string; turns: number; inputTokens: number; outputTokens: number; p95Ms: number | null }[];
}

export class AgentInsights {
  constructor(
    private readonly definitions: AgentDefinitions,
    private readonly ledger: UsageLedger,
    private readonly repository: AgentInsightsRepository,
    /** Store calls with their tier's timeout and breaker (a store that cannot answer is a 503). */
    private readonly calls: { hot: Call; warm: Call },
    /** The built-in agent's model: the server's (LLM_MODEL behind LLM_BASE_URL, or offline). */
    private readonly serverModel: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async overview(tenant: string): Promise<{ from: string; to: string; agents: AgentInsight[]; truncated: boolean }> {
    const to = this.now();
    const from = new Date(Math.floor(to.getTime() / HOUR_MS) * HOUR_MS - (HOURS - 1) * HOUR_MS);
    const views: AgentView[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.definitions.list(tenant, { limit: 100, cursor });
      views.push(...page.agents);
      cursor = page.nextCursor;
    } while (cursor && views.length < MAX_AGENTS_IN_OVERVIEW);
    const shown = views.slice(0, MAX_AGENTS_IN_OVERVIEW);
    const names = shown.map((v) => v.name);
    const [active, usage] = await Promise.all([
      this.calls.warm(() => this.repository.activeSessions(tenant)),
      this.calls.hot(() => this.ledger.hours(tenant, names, from, to)),
    ]);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      truncated: cursor !== undefined || views.length > MAX_AGENTS_IN_OVERVIEW,
      agents: shown.map((view) => {
        const hours = usage.get(view.name) ?? [];
        const model = view.definition.model;
        return {
          name: view.name,
          builtIn: view.builtIn,
          version: view.version,
          description: view.definition.description ?? null,
          model: view.builtIn
            ? { provider: "server", name: this.serverModel }
            : { provider: model?.provider ?? "offline", name: model?.name ?? null },
          updatedAt: view.updatedAt,
          activeSessions: active.get(view.name) ?? 0,
          last24h: summarize(hours),
          hourly: hourly(hours, from.getTime()),
        };
      }),
    };
  }

  /** The agent's newest conversations (404 for an agent the tenant does not have). */
  async conversations(tenant: string, agent: string, limit: number): Promise<ConversationRow[]> {
    await this.definitions.resolve(tenant, agent);
    return this.calls.warm(() => this.repository.conversations(tenant, agent, limit));
  }
}

function hourly(hours: readonly HourCounts[], from: number): AgentInsight["hourly"] {
  const byHour = new Map(hours.map((h) => [h.hour, h]));
  return Array.from({ length: HOURS }, (_, i) => {
    const at = from + i * HOUR_MS;
    const h = byHour.get(at);
    const summary = h ? summarize([h]) : undefined;
    return {
      at: new Date(at).toISOString(),
      turns: h?.turns ?? 0,
      inputTokens: h?.inputTokens ?? 0,
      outputTokens: h?.outputTokens ?? 0,
      p95Ms: summary?.latencyMs?.p95 ?? null,
    };
  });
}
