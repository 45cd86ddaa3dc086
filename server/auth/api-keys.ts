import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { KeyRepository, KeyRow } from "./key-repository";
import { InvalidError, UnavailableError } from "../state/errors";
import { withTimeout } from "../state/timeout";
import { SCOPES, type Scope } from "../shared/types";

// The scopes live in server/shared/types.ts: the dashboard lists them too.
export { SCOPES, type Scope } from "../shared/types";

/** Who is calling: one tenant, some scopes. Every state address is built from `tenant`, never from the request. */
export interface Principal {
  readonly keyId: string;
  readonly tenant: string;
  readonly scopes: ReadonlySet<Scope>;
}

export interface ApiKeyInfo {
  id: string;
  tenant: string;
  name: string | null;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// shk_<id>_<secret>: the id finds the row, the secret is checked against its hash.
const KEY_FORMAT = /^shk_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * API keys in the warm tier, stored hashed. Authentication results are cached for a few seconds so a
 * request costs no SQL; revoking through this service drops the cache entry at once.
 */
export class ApiKeyService {
  private readonly cache = new LRUCache<string, Principal | false>({ max: 10_000, ttl: 5_000 });
  /** Keys verified in the last 10 minutes, used only while the warm tier cannot answer (stale-if-error). */
  private readonly lastKnownGood = new LRUCache<string, Principal>({ max: 10_000, ttl: 10 * 60_000 });
  /** Bumped by every revocation: an answer read before one is not cached (it may predate it). */
  private revocations = 0;
  private readonly byId = new LRUCache<string, Principal | false>({ max: 10_000, ttl: 5_000 });
  /**
   * Secret hashes of keys this process created or verified in the last hour, by id: what an address
   * that is throttled for failed checks may still be answered about (server/http/auth-failures.ts),
   * with no SQL. Dropped on revocation with the other caches.
   */
  private readonly verifiedSecrets = new LRUCache<string, Buffer>({ max: 100_000, ttl: 3600_000 });
  private readonly adminTokenHash: Buffer | undefined;
  /** An admin token this long is too long to guess (if it is random), so a throttled address may still use it. */
  private readonly adminTokenGuessable: boolean;

  /**
   * Runs a key lookup against the warm tier: through the warm tier's shared health in the server (its
   * timeout and breaker, so lookups fail fast while PostgreSQL is known to be down); 2 s alone otherwise.
   */
  private readonly guard: <T>(query: () => Promise<T>) => Promise<T>;
  /** Told when this process revokes a key, so other instances can forget it (server/invalidation.ts). */
  private readonly onRevoke: (id: string) => void;

  constructor(
    private readonly rows: KeyRepository,
    adminToken?: string,
    options: { guard?: <T>(query: () => Promise<T>) => Promise<T>; onRevoke?: (id: string) => void } = {},
  ) {
    this.guard = options.guard ?? ((query) => withTimeout(query(), 2000));
    this.onRevoke = options.onRevoke ?? (() => {});
    this.adminTokenHash = adminToken ? sha256(adminToken) : undefined;
    this.adminTokenGuessable = (adminToken?.length ?? 0) < 32;
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
  async create(input: {
    tenant: string;
    scopes: readonly string[];
    name?: string;
  }): Promise<ApiKeyInfo & { key: string }> {
    if (!TENANT.test(input.tenant))
      throw new InvalidError("tenant must match [a-z0-9][a-z0-9_-]{0,63}", { field: "tenant" });
    const scopes = [...new Set(input.scopes)];
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0 || unknown.length)
      throw new InvalidError(`scopes must be a non-empty list of ${SCOPES.join(", ")}`, { field: "scopes" });
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const row = await this.rows.create({
      id,
      tenant: input.tenant,
      name: input.name ?? null,
      secretHash: sha256(secret).toString("hex"),
      scopes,
    });
    this.verifiedSecrets.set(id, sha256(secret));
    return { ...toInfo(row), key: `shk_${id}_${secret}` };
  }

  async list(tenant?: string): Promise<ApiKeyInfo[]> {
    return (await this.rows.list(tenant)).map(toInfo);
  }

  /** One key (never its secret), revoked or not; undefined when there is no such key. */
  async get(id: string): Promise<ApiKeyInfo | undefined> {
    if (!/^[a-f0-9]{16}$/.test(id)) return undefined;
    const row = await this.rows.byId(id);
    return row ? toInfo(row) : undefined;
  }

  /**
   * Revokes a key; false if no such key. Takes effect at once in this process and, through onRevoke
   * (Redis pub/sub when Redis is configured), in the others; at worst within 5 s (the cache's life).
   */
  async revoke(id: string): Promise<boolean> {
    if (!/^[a-f0-9]{16}$/.test(id)) return false;
    const revoked = await this.rows.revoke(id);
    this.forget(id);
    this.onRevoke(id);
    return revoked || (await this.rows.exists(id));
  }

  /** Drops every cached answer about key `id` (after a revocation here or in another instance). */
  forget(id: string): void {
    this.revocations++;
    for (const [token, p] of this.cache.entries()) if (p && p.keyId === id) this.cache.delete(token);
    for (const [token, p] of this.lastKnownGood.entries()) if (p.keyId === id) this.lastKnownGood.delete(token);
    this.byId.delete(id);
    this.verifiedSecrets.delete(id);
  }

  /**
   * Whether `token` is a key this process has created or verified in the last hour, with the right
   * secret, or the admin token when it is at least 32 characters: memory only, constant-time. Not an authentication
   * (revocation is checked by authenticate);
   * it only tells a throttled caller's valid key from a guess without a database round trip.
   */
  knownSecretMatches(token: string): boolean {
    // STATEHOUSE_ADMIN_TOKEN is chosen by the operator and may be as short as 16 characters: under 32,
    // a throttled address gets no verdict on it (that would be a guessing oracle).
    if (this.adminTokenHash && !this.adminTokenGuessable && timingSafeEqual(sha256(token), this.adminTokenHash))
      return true;
    const m = KEY_FORMAT.exec(token);
    const known = m && this.verifiedSecrets.get(m[1]!);
    return Boolean(known && timingSafeEqual(sha256(m[2]!), known));
  }

  /** The principal for a bearer token, or undefined for an unknown, malformed or revoked key. */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (this.adminTokenHash && token.length >= 16 && timingSafeEqual(sha256(token), this.adminTokenHash)) {
      return { keyId: "admin-token", tenant: "default", scopes: new Set(SCOPES) };
    }
    const m = KEY_FORMAT.exec(token);
    if (!m) return undefined;
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached || undefined;
    let row: KeyRow | null;
    const generation = this.revocations;
    try {
      row = await this.guard(() => this.rows.byId(m[1]!));
    } catch {
      const known = this.lastKnownGood.get(token);
      if (known) return known;
      throw new UnavailableError("warm", "API keys cannot be checked right now");
    }
    const principal: Principal | false =
      row && !row.revokedAt && timingSafeEqual(sha256(m[2]!), Buffer.from(row.secretHash, "hex"))
        ? { keyId: row.id, tenant: row.tenant, scopes: new Set(row.scopes as Scope[]) }
        : false;
    if (generation === this.revocations) {
      this.cache.set(token, principal);
      if (principal) {
        this.lastKnownGood.set(token, principal);
        this.verifiedSecrets.set(principal.keyId, sha256(m[2]!));
      } else this.lastKnownGood.delete(token);
    }
    return principal || undefined;
  }

  /** The principal of an unrevoked key by id (dashboard sessions hold ids, never keys); cached 5 s. */
  async principalById(keyId: string): Promise<Principal | undefined> {
    if (keyId === "admin-token")
      return this.adminTokenHash ? { keyId, tenant: "default", scopes: new Set(SCOPES) } : undefined;
    if (!/^[a-f0-9]{16}$/.test(keyId)) return undefined;
    const cached = this.byId.get(keyId);
    if (cached !== undefined) return cached || undefined;
    const generation = this.revocations;
    let row: KeyRow | null;
    try {
      row = await this.guard(() => this.rows.byId(keyId));
    } catch {
      throw new UnavailableError("warm", "API keys cannot be checked right now");
    }
    const principal: Principal | false =
      row && !row.revokedAt ? { keyId: row.id, tenant: row.tenant, scopes: new Set(row.scopes as Scope[]) } : false;
    if (generation === this.revocations) this.byId.set(keyId, principal);
    return principal || undefined;
  }

  /** Whether an unrevoked platform admin key exists for tenant `default` (the bootstrap admin). */
  async hasAdminKey(): Promise<boolean> {
    return this.rows.activeWithScope("default", "platform:admin");
  }

  /**
   * A deployment bootstrapped before `platform:admin` existed: its bootstrap key (the oldest key of
   * tenant `default` named "bootstrap admin", created at first start before any other) gets the scope,
   * so the operator keeps acting across tenants rather than finding a second bootstrap key. Only while no
   * key has ever held the scope (revoked rows count), so a tenant admin cannot name a key into it later.
   */
  async upgradeBootstrapKey(): Promise<boolean> {
    if (await this.rows.everHeld("platform:admin")) return false;
    const oldest = await this.rows.oldestNamed("default", "bootstrap admin");
    if (!oldest || oldest.revokedAt || !oldest.scopes.includes("admin")) return false;
    await this.rows.setScopes(oldest.id, [...new Set([...oldest.scopes, "platform:admin"])]);
    this.forget(oldest.id);
    return true;
  }
}

function toInfo(row: {
  id: string;
  tenant: string;
  name: string | null;
  scopes: string[];
  createdAt: Date;
  revokedAt: Date | null;
}): ApiKeyInfo {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    scopes: row.scopes as Scope[],
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
  };
}
