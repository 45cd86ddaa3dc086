import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { PrismaClient } from "../db/generated/client";
import { InvalidError, UnavailableError } from "../state/errors";

// checkpoints:read: reading LangGraph checkpoints through the state API (nothing else writes or reads them over HTTP).
export const SCOPES = ["state:read", "state:write", "agents:invoke", "workflows:run", "checkpoints:read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

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
  private readonly adminTokenHash: Buffer | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    adminToken?: string,
  ) {
    this.adminTokenHash = adminToken ? sha256(adminToken) : undefined;
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
  async create(input: { tenant: string; scopes: readonly string[]; name?: string }): Promise<ApiKeyInfo & { key: string }> {
    if (!TENANT.test(input.tenant)) throw new InvalidError("tenant must match [a-z0-9][a-z0-9_-]{0,63}", { field: "tenant" });
    const scopes = [...new Set(input.scopes)];
    const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0 || unknown.length) throw new InvalidError(`scopes must be a non-empty list of ${SCOPES.join(", ")}`, { field: "scopes" });
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const row = await this.prisma.apiKey.create({
      data: { id, tenant: input.tenant, name: input.name ?? null, secretHash: sha256(secret).toString("hex"), scopes },
    });
    return { ...toInfo(row), key: `shk_${id}_${secret}` };
  }

  async list(tenant?: string): Promise<ApiKeyInfo[]> {
    const rows = await this.prisma.apiKey.findMany({ where: tenant ? { tenant } : {}, orderBy: { createdAt: "asc" } });
    return rows.map(toInfo);
  }

  /** Told when this process revokes a key, so other instances can forget it (Redis pub/sub). */
  onRevoke: (id: string) => void = () => {};

  /**
   * Revokes a key; false if no such key. Takes effect at once in this process and, through onRevoke
   * (Redis pub/sub when Redis is configured), in the others; at worst within 5 s (the cache's life).
   */
  async revoke(id: string): Promise<boolean> {
    if (!/^[a-f0-9]{16}$/.test(id)) return false;
    const { count } = await this.prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    this.forget(id);
    this.onRevoke(id);
    if (count > 0) return true;
    return (await this.prisma.apiKey.count({ where: { id } })) > 0;
  }

  /** Drops every cached answer about key `id` (after a revocation here or in another instance). */
  forget(id: string): void {
    this.revocations++;
    for (const [token, p] of this.cache.entries()) if (p && p.keyId === id) this.cache.delete(token);
    for (const [token, p] of this.lastKnownGood.entries()) if (p.keyId === id) this.lastKnownGood.delete(token);
    this.byId.delete(id);
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
    let row;
    const generation = this.revocations;
    try {
      row = await withTimeout(this.prisma.apiKey.findUnique({ where: { id: m[1]! } }), 2000);
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
      if (principal) this.lastKnownGood.set(token, principal);
      else this.lastKnownGood.delete(token);
    }
    return principal || undefined;
  }

  /** The principal of an unrevoked key by id (dashboard sessions hold ids, never keys); cached 5 s. */
  async principalById(keyId: string): Promise<Principal | undefined> {
    if (keyId === "admin-token") return this.adminTokenHash ? { keyId, tenant: "default", scopes: new Set(SCOPES) } : undefined;
    if (!/^[a-f0-9]{16}$/.test(keyId)) return undefined;
    const cached = this.byId.get(keyId);
    if (cached !== undefined) return cached || undefined;
    const generation = this.revocations;
    let row;
    try {
      row = await withTimeout(this.prisma.apiKey.findUnique({ where: { id: keyId } }), 2000);
    } catch {
      throw new UnavailableError("warm", "API keys cannot be checked right now");
    }
    const principal: Principal | false = row && !row.revokedAt ? { keyId: row.id, tenant: row.tenant, scopes: new Set(row.scopes as Scope[]) } : false;
    if (generation === this.revocations) this.byId.set(keyId, principal);
    return principal || undefined;
  }

  /** Whether an unrevoked key with every scope exists for tenant `default` (the bootstrap admin). */
  async hasAdminKey(): Promise<boolean> {
    return (await this.prisma.apiKey.count({ where: { tenant: "default", revokedAt: null, scopes: { has: "admin" } } })) > 0;
  }
}

function toInfo(row: { id: string; tenant: string; name: string | null; scopes: string[]; createdAt: Date; revokedAt: Date | null }): ApiKeyInfo {
  return { id: row.id, tenant: row.tenant, name: row.name, scopes: row.scopes as Scope[], createdAt: row.createdAt, revokedAt: row.revokedAt };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), ms)))]).finally(() => clearTimeout(timer));
}
