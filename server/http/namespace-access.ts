import type { Principal, Scope } from "../auth/api-keys";
import type { NamespaceOwner, NamespacePolicy, NamespaceRegistry } from "../state/namespaces";
import { grants } from "./access";
import { HttpError } from "./problem";

/** What a state route does to the namespaces it names. */
export type NamespaceAccess = "read" | "write";

/** How a state route names its namespaces, declared on the route (RouteSpec.stateAccess). */
export interface StateAccessSpec<I> {
  readonly access: NamespaceAccess;
  /** The namespaces the request reaches, from its parsed path and body. */
  of(input: I): readonly string[];
  /** The body list the names come from (transactions: "operations"), so a refusal can say which item. */
  readonly list?: string;
}

/** The scopes that reach a namespace through the state API: `write: null` means never (a domain writes it). */
export interface NamespaceScopes {
  read: Scope[];
  write: Scope[] | null;
  /** Owned namespaces: the domain that writes them and where to go instead. */
  owner?: NamespaceOwner["domain"];
  use?: string;
}

/** The scopes a key needs for a namespace through the state routes (what GET /api/v1/namespaces shows). */
export function namespaceScopes(policy: NamespacePolicy): NamespaceScopes {
  if (!policy.owner) return { read: ["state:read"], write: ["state:write"] };
  return {
    read: ["state:read", policy.owner.readScope],
    write: null,
    owner: policy.owner.domain,
    use: policy.owner.use,
  };
}

/**
 * The one check between the generic state API and namespaces a domain owns (agent sessions and profiles,
 * workflow runs, checkpoints): writes are refused for every key (admin too: a run record written here
 * would be executed by a worker, a session record would be trusted by the agent), and reads need the
 * domain's scope besides the route's own. Throws 403 `forbidden` naming the route or library to use and
 * the scope. Names that are not declared pass: the engine answers them (404 unknown_namespace).
 * Domain services write through StateService directly and never pass here.
 */
export function assertNamespaceAccess(
  namespaces: NamespaceRegistry,
  principal: Principal,
  access: NamespaceAccess,
  names: readonly string[],
  list?: string,
): void {
  names.forEach((name, i) => {
    const owner = namespaces.has(name) ? namespaces.getOrThrow(name).owner : undefined;
    if (!owner) return;
    const where = list ? `${list}[${i}]: ` : "";
    const at = list ? { index: i } : {};
    if (access === "write") {
      throw new HttpError(
        "forbidden",
        `${where}namespace ${name} is written by ${owner.domain} only, never through the state API: use ${owner.use}`,
        {
          ...at,
          namespace: name,
          owner: owner.domain,
          use: owner.use,
        },
      );
    }
    if (!grants(principal.scopes, owner.readScope)) {
      throw new HttpError(
        "forbidden",
        `${where}reading namespace ${name} through the state API needs the ${owner.readScope} scope; or use ${owner.use}`,
        {
          ...at,
          namespace: name,
          owner: owner.domain,
          requiredScope: owner.readScope,
          use: owner.use,
        },
      );
    }
  });
}
