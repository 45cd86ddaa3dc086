import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../config";
import { BUILT_IN_NAMESPACES } from "../namespaces";
import { definePolicy, type NamespacePolicy, NamespaceRegistry } from "../state/namespaces";

const VARIABLE = "STATEHOUSE_NAMESPACES";

/**
 * The namespaces a deployment declares in its own code (STATEHOUSE_NAMESPACES): a module (.ts, .mts,
 * .js or .mjs) whose default export is an array of policies, each a `definePolicy(...)` result or a
 * plain object with the same fields (it goes through definePolicy here, so the same rules and defaults
 * apply either way). Upgraders are functions, which is why this is code and not JSON. Throws
 * ConfigError naming the variable when the module is missing, unloadable or exports something else.
 */
export async function loadDeclaredNamespaces(modulePath: string | undefined): Promise<NamespacePolicy[]> {
  if (!modulePath) return [];
  const file = path.resolve(modulePath);
  if (!existsSync(file)) throw new ConfigError([`${VARIABLE}: no such file`]);
  let exported: unknown;
  try {
    exported = (
      (await import(/* webpackIgnore: true */ /* turbopackIgnore: true */ pathToFileURL(file).href)) as {
        default?: unknown;
      }
    ).default;
  } catch (err) {
    throw new ConfigError([
      `${VARIABLE}: the module could not be loaded (${err instanceof Error ? err.message.split("\n")[0] : "error"})`,
    ]);
  }
  if (!Array.isArray(exported))
    throw new ConfigError([`${VARIABLE}: the module's default export must be an array of namespace policies`]);
  const problems: string[] = [];
  const policies: NamespacePolicy[] = [];
  exported.forEach((input: unknown, i) => {
    try {
      if (typeof input !== "object" || input === null) throw new Error("not an object");
      // Ownership ties a namespace to a built-in domain's services and scope: a deployment's own namespaces stay open to the state API.
      if ((input as { owner?: unknown }).owner !== undefined)
        throw new Error("owner is reserved for built-in namespaces");
      policies.push(definePolicy(input as Parameters<typeof definePolicy>[0]));
    } catch (err) {
      problems.push(`${VARIABLE}: policy [${i}]: ${err instanceof Error ? err.message : "invalid"}`);
    }
  });
  if (problems.length) throw new ConfigError(problems);
  return policies;
}

/** The built-in namespaces plus the deployment's own; a name declared twice is a ConfigError. */
export async function namespaceRegistryFor(config: { STATEHOUSE_NAMESPACES?: string }): Promise<NamespaceRegistry> {
  const declared = await loadDeclaredNamespaces(config.STATEHOUSE_NAMESPACES);
  try {
    return new NamespaceRegistry([...BUILT_IN_NAMESPACES, ...declared]);
  } catch (err) {
    throw new ConfigError([`${VARIABLE}: ${err instanceof Error ? err.message : "invalid"}`]);
  }
}
