// The api_keys table: every query the key service makes (rows hold the secret's hash, never the secret).
import type { PrismaClient } from "../db/generated/client";

export interface KeyRow {
  id: string;
  tenant: string;
  name: string | null;
  secretHash: string;
  scopes: string[];
  createdAt: Date;
  revokedAt: Date | null;
}

export class KeyRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "apiKey">) {}

  create(row: Pick<KeyRow, "id" | "tenant" | "name" | "secretHash" | "scopes">): Promise<KeyRow> {
    return this.prisma.apiKey.create({ data: row });
  }

  /** Every key (of one tenant with `tenant`), oldest first. */
  list(tenant?: string): Promise<KeyRow[]> {
    return this.prisma.apiKey.findMany({ where: tenant ? { tenant } : {}, orderBy: { createdAt: "asc" } });
  }

  byId(id: string): Promise<KeyRow | null> {
    return this.prisma.apiKey.findUnique({ where: { id } });
  }

  /** Marks the key revoked if it was not; returns whether this call revoked it. */
  async revoke(id: string): Promise<boolean> {
    const { count } = await this.prisma.apiKey.updateMany({
      where: { id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return count > 0;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.prisma.apiKey.count({ where: { id } })) > 0;
  }

  /** Whether an unrevoked key of `tenant` holds `scope`. */
  async activeWithScope(tenant: string, scope: string): Promise<boolean> {
    return (await this.prisma.apiKey.count({ where: { tenant, revokedAt: null, scopes: { has: scope } } })) > 0;
  }

  /** Whether any key, revoked or not, has ever held `scope`. */
  async everHeld(scope: string): Promise<boolean> {
    return (await this.prisma.apiKey.count({ where: { scopes: { has: scope } } })) > 0;
  }

  /** The oldest key of `tenant` named `name`, revoked or not. */
  oldestNamed(tenant: string, name: string): Promise<KeyRow | null> {
    return this.prisma.apiKey.findFirst({ where: { tenant, name }, orderBy: { createdAt: "asc" } });
  }

  async setScopes(id: string, scopes: readonly string[]): Promise<void> {
    await this.prisma.apiKey.update({ where: { id }, data: { scopes: [...scopes] } });
  }
}
