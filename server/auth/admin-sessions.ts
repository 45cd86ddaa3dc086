import type { RedisClient } from "../state/redis";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "sh_admin";

export interface AdminSession {
  /** Random per login: logging out revokes this id (until the session would have expired anyway). */
  sid: string;
  keyId: string;
  tenant: string;
  /** Sent back by the dashboard in `X-CSRF-Token` on every mutation (double submit, plus SameSite=Strict). */
  csrf: string;
  expiresAt: number;
}

/**
 * Dashboard sessions as signed cookies: `<payload>.<HMAC-SHA256>`, holding the key id (never the key),
 * its tenant, a CSRF token and an expiry. Stateless, so any instance sharing STATEHOUSE_SESSION_SECRET
 * can verify them; without that variable the secret is random per process (sessions end on restart).
 */
export class AdminSessions {
  private readonly secret: Buffer;

  constructor(
    secret?: string,
    readonly ttlMs = 8 * 3600_000,
  ) {
    this.secret = secret ? Buffer.from(secret, "utf8") : randomBytes(32);
  }

  issue(keyId: string, tenant: string, now = Date.now()): { value: string; session: AdminSession } {
    const session: AdminSession = {
      sid: randomBytes(12).toString("base64url"),
      keyId,
      tenant,
      csrf: randomBytes(18).toString("base64url"),
      expiresAt: now + this.ttlMs,
    };
    const payload = Buffer.from(JSON.stringify(session)).toString("base64url");
    return { value: `${payload}.${this.sign(payload)}`, session };
  }

  verify(value: string | undefined, now = Date.now()): AdminSession | undefined {
    if (!value || value.length > 2048) return undefined;
    const [payload, mac] = value.split(".");
    if (!payload || !mac) return undefined;
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const session = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as AdminSession;
      return session.expiresAt > now && typeof session.sid === "string" ? session : undefined;
    } catch {
      return undefined;
    }
  }

  cookie(value: string, secure: boolean): string {
    return (
      `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; ` +
      `Max-Age=${Math.floor(this.ttlMs / 1000)}${secure ? "; Secure" : ""}`
    );
  }

  clearCookie(secure: boolean): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.secret).update(payload).digest("base64url");
  }
}

/** The value of one cookie from a Cookie header. */
export function readCookie(header: string | undefined | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Sessions ended by logout, kept until they would have expired (Redis when configured, so every instance sees it). */
export interface SessionDenylist {
  revoke(session: AdminSession): Promise<void>;
  isRevoked(sid: string): Promise<boolean>;
}

export class MemorySessionDenylist implements SessionDenylist {
  private readonly revoked = new Map<string, number>();
  async revoke(session: AdminSession): Promise<void> {
    this.revoked.set(session.sid, session.expiresAt);
    for (const [sid, until] of this.revoked) if (until < Date.now()) this.revoked.delete(sid);
  }
  async isRevoked(sid: string): Promise<boolean> {
    return (this.revoked.get(sid) ?? 0) > Date.now();
  }
}

export class RedisSessionDenylist implements SessionDenylist {
  constructor(
    private readonly client: {
      set(...args: (string | number)[]): Promise<unknown>;
      exists(key: string): Promise<number>;
    },
    private readonly prefix: string,
  ) {}
  async revoke(session: AdminSession): Promise<void> {
    await this.client.set(`${this.prefix}session:revoked:${session.sid}`, "1", "PXAT", session.expiresAt);
  }
  async isRevoked(sid: string): Promise<boolean> {
    return (await this.client.exists(`${this.prefix}session:revoked:${sid}`)) === 1;
  }
}

/** The denylist in Redis when there is one (every instance sees a logout), through the hot tier's shared health. */
export function sessionDenylistFor(
  redis: RedisClient | undefined,
  prefix: string,
  hotCall: <T>(fn: () => Promise<T>) => Promise<T>,
): SessionDenylist {
  const denylist = redis ? new RedisSessionDenylist(redis as never, prefix) : new MemorySessionDenylist();
  return {
    revoke: (s) => hotCall(() => denylist.revoke(s)),
    isRevoked: (sid) => hotCall(() => denylist.isRevoked(sid)),
  };
}

/**
 * A verified, not logged-out dashboard session from a cookie value, or undefined. A denylist that
 * cannot answer (Redis down) does not lock operators out: the signature still holds.
 */
export async function sessionFromCookie(
  sessions: AdminSessions,
  denylist: SessionDenylist,
  cookie: string | undefined,
): Promise<AdminSession | undefined> {
  const s = sessions.verify(cookie);
  if (!s) return undefined;
  return (await denylist.isRevoked(s.sid).catch(() => false)) ? undefined : s;
}
