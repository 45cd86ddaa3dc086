// Agent definitions: what a tenant's agent is (instructions, model, memory, session lifetime), kept as
// versioned state in the `agents` namespace, one record per tenant and agent name.
import { z } from "zod";
import { InvalidError, isStateError, StateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRef } from "../state/store";
import { AGENT_DEFINITIONS_NAMESPACE, MAX_WINDOW_BYTES, MAX_WINDOW_TURNS } from "./namespaces";

export const AGENT_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** The agent every tenant has: defined by the server's configuration, read-only. */
export const BUILT_IN_AGENT = "assistant";
export const MAX_INSTRUCTIONS_CHARS = 16_000;
export const DEFAULT_INSTRUCTIONS = "You are a helpful assistant with persistent memory.";

const seconds = z
  .number()
  .int()
  .min(1)
  .max(365 * 24 * 3600);

/** The body of `PUT /api/v1/agents/{name}`: every field optional but what the chosen model needs. */
export const AgentDefinitionSchema = z
  .object({
    description: z.string().max(500).optional(),
    instructions: z.string().max(MAX_INSTRUCTIONS_CHARS).optional(),
    model: z
      .object({
        provider: z.enum(["offline", "openai-compatible"]),
        baseUrl: z.string().max(500).optional(),
        name: z.string().min(1).max(200).optional(),
        apiKeyEnv: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "must be an environment variable's name")
          .optional(),
      })
      .strict()
      .optional(),
    memory: z
      .object({
        windowTurns: z.number().int().min(1).max(MAX_WINDOW_TURNS).optional(),
        windowBytes: z.number().int().min(1024).max(MAX_WINDOW_BYTES).optional(),
        summaries: z.boolean().optional(),
        entities: z.boolean().optional(),
        longTerm: z.boolean().optional(),
      })
      .strict()
      .optional(),
    session: z.object({ idleTtlSeconds: seconds.optional(), ttlSeconds: seconds.optional() }).strict().optional(),
    generation: z
      .object({
        temperature: z.number().min(0).max(2).optional(),
        maxOutputTokens: z.number().int().min(1).max(32_768).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type AgentDefinition = z.infer<typeof AgentDefinitionSchema>;

/** A definition with every default filled in: what a session runs with. */
export interface ResolvedAgent {
  name: string;
  /** The definition record's version; 0 for the built-in agent. */
  version: number;
  builtIn: boolean;
  instructions: string;
  model: { provider: "offline" } | { provider: "openai-compatible"; baseUrl: string; name: string; apiKeyEnv?: string };
  memory: { windowTurns: number; windowBytes: number; summaries: boolean; entities: boolean; longTerm: boolean };
  session: { idleTtlSeconds?: number; ttlSeconds?: number };
  generation: { temperature?: number; maxOutputTokens?: number };
}

/** An agent as the API answers it. */
export interface AgentView {
  name: string;
  builtIn: boolean;
  version: number;
  definition: AgentDefinition;
  createdAt: string | null;
  updatedAt: string | null;
}

/** What the operator allows tenants to point agents at (STATEHOUSE_AGENT_BASE_URLS, STATEHOUSE_AGENT_API_KEY_ENVS). */
export interface UpstreamAllowlist {
  baseUrls: readonly string[];
  apiKeyEnvs: readonly string[];
}

/** 404 for an agent that is not defined for the tenant (another tenant's agent is not defined for it). */
export class UnknownAgentError extends StateError {
  constructor(readonly agent: string) {
    super("not_found", `there is no agent named ${JSON.stringify(agent.slice(0, 64))}`);
    this.name = "UnknownAgentError";
  }
}

/** A base URL in the form allowlists compare: no trailing slash. */
export function normalizeBaseUrl(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Checks a definition (422 `invalid` naming the field) and returns it as stored. The upstream and key
 * variable must be on the operator's allowlists: a tenant choosing both could otherwise point an agent at
 * its own server with `apiKeyEnv` naming one of the server's secrets and receive it.
 */
export function validateDefinition(input: unknown, allow: UpstreamAllowlist): AgentDefinition {
  const parsed = AgentDefinitionSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "(body)";
    throw new InvalidError(`invalid agent definition: ${field}: ${issue.message}`, {
      field,
      issues: parsed.error.issues.slice(0, 10).map((i) => ({ field: i.path.join("."), message: i.message })),
    });
  }
  const definition = parsed.data;
  const model = definition.model;
  const refuse = (field: string, message: string) => {
    throw new InvalidError(`invalid agent definition: ${field}: ${message}`, { field });
  };
  if (model?.provider === "openai-compatible") {
    if (!model.baseUrl) refuse("model.baseUrl", "required for provider openai-compatible");
    if (!model.name) refuse("model.name", "required for provider openai-compatible");
    let url: URL | undefined;
    try {
      url = new URL(model.baseUrl!);
    } catch {
      refuse("model.baseUrl", "must be an http(s) URL");
    }
    if (!["http:", "https:"].includes(url!.protocol) || url!.username || url!.password)
      refuse("model.baseUrl", "must be an http(s) URL without credentials");
    if (!allow.baseUrls.map(normalizeBaseUrl).includes(normalizeBaseUrl(model.baseUrl!)))
      refuse("model.baseUrl", "not on this server's allowlist of upstreams (STATEHOUSE_AGENT_BASE_URLS)");
    if (model.apiKeyEnv !== undefined && !allow.apiKeyEnvs.includes(model.apiKeyEnv))
      refuse("model.apiKeyEnv", "not on this server's allowlist of key variables (STATEHOUSE_AGENT_API_KEY_ENVS)");
  } else if (model && (model.baseUrl !== undefined || model.apiKeyEnv !== undefined || model.name !== undefined)) {
    refuse("model", "baseUrl, name and apiKeyEnv apply to provider openai-compatible only");
  }
  return definition;
}

/** Fills in the defaults of a definition (the built-in agent's, unless the definition says otherwise). */
export function resolveAgent(name: string, version: number, builtIn: boolean, d: AgentDefinition): ResolvedAgent {
  const model = d.model;
  return {
    name,
    version,
    builtIn,
    instructions: d.instructions ?? DEFAULT_INSTRUCTIONS,
    model:
      model?.provider === "openai-compatible"
        ? { provider: "openai-compatible", baseUrl: model.baseUrl!, name: model.name!, apiKeyEnv: model.apiKeyEnv }
        : { provider: "offline" },
    memory: {
      windowTurns: d.memory?.windowTurns ?? 10,
      windowBytes: d.memory?.windowBytes ?? 64 * 1024,
      summaries: d.memory?.summaries ?? true,
      entities: d.memory?.entities ?? true,
      longTerm: d.memory?.longTerm ?? false,
    },
    session: { idleTtlSeconds: d.session?.idleTtlSeconds, ttlSeconds: d.session?.ttlSeconds },
    generation: { ...d.generation },
  };
}

/** The tenants' agent definitions over the state service (versions, history, TTLs and metrics come with it). */
export class AgentDefinitions {
  /** `builtIn`: the built-in agent's definition, from the server's configuration (its model is the server's). */
  constructor(
    private readonly state: StateService,
    private readonly allow: UpstreamAllowlist,
    private readonly builtIn: AgentDefinition = {},
  ) {}

  /** The agent `name` of `tenant`, defaults filled in; UnknownAgentError when it has none of that name. */
  async resolve(tenant: string, name: string): Promise<ResolvedAgent> {
    if (name === BUILT_IN_AGENT) return resolveAgent(name, 0, true, this.builtIn);
    const record = await this.read(tenant, name);
    return resolveAgent(name, record.version, false, record.value as AgentDefinition);
  }

  async get(tenant: string, name: string): Promise<AgentView> {
    if (name === BUILT_IN_AGENT) return this.builtInView();
    const record = await this.read(tenant, name);
    return {
      name,
      builtIn: false,
      version: record.version,
      definition: record.value as AgentDefinition,
      createdAt: record.createdAt.toISOString(),
      updatedAt: record.updatedAt.toISOString(),
    };
  }

  /** Creates or replaces a definition; `ifVersion`/`createOnly` are the If-Match/If-None-Match preconditions. */
  async put(
    tenant: string,
    name: string,
    input: unknown,
    options: { ifVersion?: number; createOnly?: boolean; actor?: string } = {},
  ): Promise<{ view: AgentView; created: boolean }> {
    this.assertWritable(name);
    const definition = validateDefinition(input, this.allow);
    const { record, created } = await this.state.put(this.ref(tenant, name), definition, options);
    return {
      created,
      view: {
        name,
        builtIn: false,
        version: record.version,
        definition,
        createdAt: record.createdAt.toISOString(),
        updatedAt: record.updatedAt.toISOString(),
      },
    };
  }

  async delete(tenant: string, name: string, options: { ifVersion?: number; actor?: string } = {}): Promise<void> {
    this.assertWritable(name);
    await this.read(tenant, name);
    await this.state.delete(this.ref(tenant, name), options);
  }

  /** The built-in agent first, then the tenant's, by name; `cursor` continues a page. */
  async list(tenant: string, options: { limit?: number; cursor?: string } = {}) {
    const page = await this.state.list(tenant, AGENT_DEFINITIONS_NAMESPACE, {
      limit: options.limit ?? 100,
      cursor: options.cursor,
    });
    const defined = await Promise.all(page.items.map((item) => this.get(tenant, item.key).catch(() => undefined)));
    const agents = defined.filter((a): a is AgentView => a !== undefined);
    return { agents: options.cursor ? agents : [this.builtInView(), ...agents], nextCursor: page.nextCursor };
  }

  private builtInView(): AgentView {
    return {
      name: BUILT_IN_AGENT,
      builtIn: true,
      version: 0,
      definition: this.builtIn,
      createdAt: null,
      updatedAt: null,
    };
  }

  private async read(tenant: string, name: string) {
    if (!AGENT_NAME.test(name)) throw new UnknownAgentError(name);
    try {
      return await this.state.getOrThrow(this.ref(tenant, name));
    } catch (err) {
      if (isStateError(err) && err.code === "not_found") throw new UnknownAgentError(name);
      throw err;
    }
  }

  /** 403 for the built-in agent, 422 for a name that is not an agent's. */
  assertWritable(name: string): void {
    if (name === BUILT_IN_AGENT)
      throw new StateError("forbidden", `${BUILT_IN_AGENT} is built in and read-only; define an agent of another name`);
    if (!AGENT_NAME.test(name))
      throw new InvalidError(
        "an agent's name is 1-64 lowercase letters, digits and '-', starting with a letter or digit",
        {
          field: "name",
        },
      );
  }

  private ref(tenant: string, name: string): StateRef {
    return { tenant, namespace: AGENT_DEFINITIONS_NAMESPACE, key: name };
  }
}
