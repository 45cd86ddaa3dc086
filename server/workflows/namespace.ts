// The namespace workflow runs live in, and when a run is finished enough to archive.
import { definePolicy, MiB, namespaceOwner } from "../state/namespaces";
import { TERMINAL } from "./types";

const WORKFLOWS = namespaceOwner("workflows", "workflows:run", "/api/v1/workflows (scope workflows:run)");

/** A workflow run that will not change again. */
export function isFinishedRun(value: unknown): boolean {
  const status = typeof value === "object" && value !== null ? (value as { status?: unknown }).status : undefined;
  return typeof status === "string" && (TERMINAL as ReadonlySet<string>).has(status);
}

export const WORKFLOWS_POLICY = definePolicy({
  name: "workflows",
  kind: "process",
  durability: "durable",
  description: "Multi-step workflow runs and their checkpoints",
  maxBytes: { warn: 1 * MiB, fail: 4 * MiB },
  requirePrecondition: true,
  consistency: "strong",
  onExpire: "archive",
  archiveAfter: { idleSeconds: 3600, when: isFinishedRun },
  owner: WORKFLOWS,
});
