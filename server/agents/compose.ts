// Wires the agent domain: definitions over the state service, each agent's model within the operator's
// allowlists, and the sessions service that uses both.
import type { Config } from "../config";
import type { StateService } from "../state/service";
import type { Instruments } from "../telemetry/instruments";
import { AgentDefinitions, DEFAULT_INSTRUCTIONS, type UpstreamAllowlist } from "./definitions";
import { type AgentModel, AgentModels } from "./model";
import { AgentService } from "./sessions";
import type { TextAnalyzer } from "./text-pool";

/** The operator's allowlists from the configuration (nothing allowed when unset). */
export function upstreamAllowlist(config: Config): UpstreamAllowlist {
  const list = (v: string | undefined) =>
    (v ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  return { baseUrls: list(config.STATEHOUSE_AGENT_BASE_URLS), apiKeyEnvs: list(config.STATEHOUSE_AGENT_API_KEY_ENVS) };
}

export function composeAgents(
  config: Config,
  state: StateService,
  /** The server's model (LLM_* or offline): the built-in agent's. */
  model: AgentModel,
  instruments: Pick<
    Instruments,
    "agentTurnDuration" | "lifecycleEvents" | "genAiOperationDuration" | "genAiTokenUsage"
  >,
  text: TextAnalyzer,
): AgentService {
  const allow = upstreamAllowlist(config);
  const builtIn = { instructions: DEFAULT_INSTRUCTIONS };
  const models = new AgentModels(
    model,
    {
      ...allow,
      timeoutMs: config.STATEHOUSE_AGENT_UPSTREAM_TIMEOUT_MS,
      maxBytes: config.STATEHOUSE_AGENT_UPSTREAM_MAX_BYTES,
    },
    instruments,
  );
  return new AgentService(state, new AgentDefinitions(state, allow, builtIn), models, instruments, text);
}
