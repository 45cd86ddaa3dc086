// Every built-in namespace: each domain's own and the engine's general-purpose ones, in the design's order.
import {
  AGENT_DEFINITIONS_POLICY,
  AGENT_PROFILES_POLICY,
  RESPONSES_POLICY,
  SESSIONS_POLICY,
} from "./agents/namespaces";
import { MEMORIES_POLICY } from "./memories/namespaces";
import { CHECKPOINT_HEADS_POLICY, CHECKPOINTS_POLICY, STORE_POLICY } from "./langgraph/namespaces";
import { GENERAL_NAMESPACES, type NamespacePolicy } from "./state/namespaces";
import { WORKFLOWS_POLICY } from "./workflows/namespace";

const [jobs, ...rest] = GENERAL_NAMESPACES;

/** The built-in namespaces of the design's table (user-declared ones come from STATEHOUSE_NAMESPACES). */
export const BUILT_IN_NAMESPACES: readonly NamespacePolicy[] = [
  SESSIONS_POLICY,
  WORKFLOWS_POLICY,
  jobs!,
  CHECKPOINTS_POLICY,
  CHECKPOINT_HEADS_POLICY,
  AGENT_PROFILES_POLICY,
  AGENT_DEFINITIONS_POLICY,
  RESPONSES_POLICY,
  MEMORIES_POLICY,
  STORE_POLICY,
  ...rest,
];
