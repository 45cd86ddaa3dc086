// Long-term memories: what a tenant's user told an agent (or the API), kept beyond any session, found by
// meaning. Each memory is one record of the `memories` namespace (versions, history, TTLs, size limits
// and metrics come with it); search fuses PostgreSQL full-text ranking with an exact cosine scan.
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { InvalidError, isStateError, NotFoundError, StateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRecord, StateRef } from "../state/store";
import { type Embedder, encodeVector, similarity as similarityOf } from "./embedder";
import { UserVectorCache } from "./vector-cache";
import type { MemoryFilter, MemoryRepository } from "./memory-repository";
import { MEMORIES_NAMESPACE } from "./namespaces";
import { searchTerms, fuse } from "./ranking";

export const MEMORY_KINDS = ["fact", "preference", "event", "summary"] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** The most memories one user may keep: the exact vector scan reads all of them. */
export const MAX_MEMORIES_PER_USER = 10_000;
export const MAX_MEMORY_CHARS = 2000;
export const MAX_SEARCH_RESULTS = 50;
/** Two memories of a user this similar (cosine, same model) are one: the newer text replaces the older. */
export const DUPLICATE_SIMILARITY = 0.92;

/** End users are named by the tenant: an id, an email, a handle. */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/;

export const MemoryInput = z.strictObject({
  userId: z.string().regex(USER_ID, "1-128 letters, digits and . _ @ : + -, starting with a letter or digit"),
  text: z.string().trim().min(1).max(MAX_MEMORY_CHARS),
  kind: z.enum(MEMORY_KINDS).optional(),
  agent: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
    .optional(),
  /** What the memory is about, when one value at a time is true (`email`, `diet`): a new one replaces it. */
  subject: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/)
    .optional(),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 24 * 3600)
    .optional(),
});
export type MemoryInput = z.infer<typeof MemoryInput>;

export type MemorySource =
  | { type: "api" }
  | { type: "mcp" }
  | { type: "session"; agent: string; sessionId: string; turn: number };

/** What a memory says and where it came from: the stored value's fields the API shows too. */
interface MemoryFields {
  userId: string;
  agent: string | null;
  text: string;
  kind: MemoryKind;
  subject: string | null;
  source: MemorySource;
  createdAt: string;
}

/** A memory as stored (the record's value). */
interface StoredMemory extends MemoryFields {
  embedding: { model: string; vector: string };
}

/** A memory as the API shows it (never its vector). */
export interface Memory extends MemoryFields {
  id: string;
  updatedAt: string;
  expiresAt: string | null;
  version: number;
  embeddingModel: string;
}

export interface SearchHit {
  memory: Memory;
  /** Reciprocal-rank fusion of the full-text and vector rankings (higher is better). */
  score: number;
  /** Whether the memory shares a stemmed content word with the query (such memories rank first). */
  matched: boolean;
  similarity: number;
}

function view(id: string, record: StateRecord): Memory {
  const m = record.value as StoredMemory;
  return {
    id,
    userId: m.userId,
    agent: m.agent,
    text: m.text,
    kind: m.kind,
    subject: m.subject,
    source: m.source,
    createdAt: m.createdAt,
    updatedAt: record.updatedAt.toISOString(),
    expiresAt: record.expiresAt?.toISOString() ?? null,
    version: record.version,
    embeddingModel: m.embedding.model,
  };
}

const MEMORY_ID = /^mem_[0-9a-f]{24}$/;

export class MemoryService {
  constructor(
    private readonly state: StateService,
    private readonly repository: MemoryRepository,
    private readonly embedder: Embedder,
    /** Direct warm queries with the warm tier's timeout and breaker. */
    private readonly warm: <T>(fn: () => Promise<T>) => Promise<T>,
    /** Each search's duration (statehouse.memory.search.duration). */
    private readonly onSearch: (seconds: number) => void = () => {},
  ) {
    // Only the queries run under the warm tier's health: a slow embedder is not the database failing.
    this.vectorCache = new UserVectorCache(
      {
        vectorStamp: (...a) => warm(() => repository.vectorStamp(...a)),
        vectors: (...a) => warm(() => repository.vectors(...a)),
        versions: (...a) => warm(() => repository.versions(...a)),
      },
      embedder,
    );
  }

  /** Users' vectors between searches, checked against warm on each use (vector-cache.ts). */
  private readonly vectorCache: UserVectorCache;

  /** Drops what this process holds of the user's vectors (forgetting the user). */
  forgetCached(tenant: string, userId: string): void {
    this.vectorCache.forget(tenant, userId);
  }

  /** The user's vectors that pass `filter` (kinds; an agent's memories and those of every agent). */
  private async vectorsOf(tenant: string, userId: string, filter: MemoryFilter) {
    const all = await this.vectorCache.of(tenant, userId, MAX_MEMORIES_PER_USER);
    const kinds = filter.kinds?.length ? new Set<string>(filter.kinds) : undefined;
    return all.filter(
      (v) =>
        (!kinds || kinds.has(v.kind)) && (filter.agent === undefined || v.agent === null || v.agent === filter.agent),
    );
  }

  /**
   * Adds a memory, consolidated with what the user already has: a memory with a `subject` replaces the
   * user's memory of that subject (a new version of it); one nearly the same as an existing memory
   * (cosine ≥ DUPLICATE_SIMILARITY) is merged into it. `created` is false when an existing one changed.
   */
  async add(
    tenant: string,
    input: MemoryInput,
    source: MemorySource,
    actor?: string,
  ): Promise<{ memory: Memory; created: boolean }> {
    const parsed = MemoryInput.safeParse(input);
    if (!parsed.success) throw invalid(parsed.error);
    const m = parsed.data;
    const [vector] = await this.embedder.embed([m.text]);
    let id: string | undefined;
    if (m.subject) id = subjectId(m.userId, m.agent ?? null, m.subject);
    else id = await this.nearDuplicate(tenant, m.userId, vector!, m.kind ?? "fact");
    const existing = id ? await this.read(tenant, id).catch(notFoundAsUndefined) : undefined;
    if (!existing && (await this.warm(() => this.repository.count(tenant, m.userId))) >= MAX_MEMORIES_PER_USER)
      throw new StateError(
        "storage_quota_exceeded",
        `user ${m.userId} has ${MAX_MEMORIES_PER_USER} memories, the most one user may keep; delete some first`,
      );
    id ??= `mem_${randomBytes(12).toString("hex")}`;
    const before = existing?.value as StoredMemory | undefined;
    const stored: StoredMemory = {
      userId: m.userId,
      agent: m.agent ?? null,
      text: m.text,
      kind: m.kind ?? before?.kind ?? "fact",
      subject: m.subject ?? before?.subject ?? null,
      source,
      createdAt: before?.createdAt ?? new Date().toISOString(),
      embedding: { model: this.embedder.model, vector: encodeVector(vector!) },
    };
    const { record } = await this.state.put(this.ref(tenant, id), stored, {
      actor,
      ...(m.ttlSeconds ? { ttlSeconds: m.ttlSeconds } : {}),
    });
    return { memory: view(id, record), created: !existing };
  }

  async get(tenant: string, id: string): Promise<Memory> {
    return view(id, await this.read(tenant, id));
  }

  /** Changes a memory's text, kind or expiry (re-embedding a new text); `ifVersion` is If-Match. */
  async update(
    tenant: string,
    id: string,
    change: { text?: string; kind?: MemoryKind; ttlSeconds?: number },
    options: { ifVersion?: number; actor?: string } = {},
  ): Promise<Memory> {
    const current = await this.read(tenant, id);
    const before = current.value as StoredMemory;
    const parsed = MemoryInput.partial().safeParse(change);
    if (!parsed.success) throw invalid(parsed.error);
    const text = parsed.data.text ?? before.text;
    const embedding =
      text === before.text && before.embedding.model === this.embedder.model
        ? before.embedding
        : { model: this.embedder.model, vector: encodeVector((await this.embedder.embed([text]))[0]!) };
    const { record } = await this.state.put(
      this.ref(tenant, id),
      { ...before, text, kind: parsed.data.kind ?? before.kind, embedding },
      {
        ifVersion: options.ifVersion ?? current.version,
        actor: options.actor,
        // A change keeps the memory's expiry unless it sets a new one.
        ...(parsed.data.ttlSeconds
          ? { ttlSeconds: parsed.data.ttlSeconds }
          : current.expiresAt
            ? { ttlSeconds: Math.max(1, Math.ceil((current.expiresAt.getTime() - Date.now()) / 1000)) }
            : {}),
      },
    );
    return view(id, record);
  }

  async delete(tenant: string, id: string, options: { ifVersion?: number; actor?: string } = {}): Promise<void> {
    await this.read(tenant, id);
    await this.state.delete(this.ref(tenant, id), options);
  }

  /** The user's memories, most recently changed first (`cursor` continues a page). */
  async list(tenant: string, userId: string, options: { limit?: number; cursor?: string } = {}) {
    if (!USER_ID.test(userId)) throw new InvalidError("not a user id", { field: "userId" });
    const limit = options.limit ?? 50;
    const after = options.cursor ? decodeCursor(options.cursor) : undefined;
    const records = await this.warm(() => this.repository.page(tenant, userId, limit + 1, after));
    const page = records.slice(0, limit);
    const last = page.at(-1);
    return {
      memories: page.map((r) => view(r.key, r)),
      nextCursor: records.length > limit && last ? encodeCursor(last.updatedAt, last.key) : undefined,
    };
  }

  /** The tenant's users with memories, most first (at most 200). */
  async users(tenant: string) {
    return this.warm(() => this.repository.users(tenant, 200));
  }

  /** Every memory of the user (at most MAX_MEMORIES_PER_USER), for export. */
  async export(tenant: string, userId: string): Promise<Memory[]> {
    const all: Memory[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list(tenant, userId, { limit: 1000, cursor });
      all.push(...page.memories);
      cursor = page.nextCursor;
    } while (cursor && all.length < MAX_MEMORIES_PER_USER);
    return all;
  }

  /**
   * The user's memories most relevant to `query`: PostgreSQL full-text ranking (the query's words OR-ed,
   * English stemming) fused with an exact cosine scan of the user's vectors by reciprocal rank; memories
   * that share a stemmed word with the query come before those that share none.
   */
  async search(
    tenant: string,
    request: { userId: string; query: string; limit?: number } & MemoryFilter,
  ): Promise<SearchHit[]> {
    if (!USER_ID.test(request.userId)) throw new InvalidError("not a user id", { field: "userId" });
    const started = performance.now();
    const limit = Math.min(request.limit ?? 10, MAX_SEARCH_RESULTS);
    const filter = { kinds: request.kinds, agent: request.agent };
    const [queryVector] = await this.embedder.embed([request.query]);
    const [matches, candidates] = await Promise.all([
      this.warm(() => this.repository.fullText(tenant, request.userId, searchTerms(request.query), 200, filter)),
      this.vectorsOf(tenant, request.userId, filter),
    ]);
    const ranked = fuse(matches, candidates, queryVector!).slice(0, limit);
    const hits = await Promise.all(
      ranked.map(async (r) => {
        const record = await this.read(tenant, r.key).catch(notFoundAsUndefined);
        return record
          ? { memory: view(r.key, record), score: r.score, matched: r.matched, similarity: r.similarity }
          : undefined;
      }),
    );
    this.onSearch((performance.now() - started) / 1000);
    return hits.filter((h): h is SearchHit => h !== undefined);
  }

  /** The memory of the user closest to `vector`, when it is a near-duplicate of the same kind. */
  private async nearDuplicate(tenant: string, userId: string, vector: Float32Array, kind: MemoryKind) {
    let best: { key: string; similarity: number } | undefined;
    for (const v of await this.vectorsOf(tenant, userId, { kinds: [kind] })) {
      const s = similarityOf(v.vector, vector);
      if (s >= DUPLICATE_SIMILARITY && (!best || s > best.similarity)) best = { key: v.key, similarity: s };
    }
    return best?.key;
  }

  private async read(tenant: string, id: string): Promise<StateRecord> {
    if (!MEMORY_ID.test(id)) throw new NotFoundError(this.ref(tenant, id.slice(0, 64)));
    return this.state.getOrThrow(this.ref(tenant, id));
  }

  private ref(tenant: string, id: string): StateRef {
    return { tenant, namespace: MEMORIES_NAMESPACE, key: id };
  }
}

/** One memory per user, agent and subject: its id is derived from them, so a new value is a new version. */
function subjectId(userId: string, agent: string | null, subject: string): string {
  return `mem_${createHash("sha256")
    .update(`${userId}\u0000${agent ?? ""}\u0000${subject}`)
    .digest("hex")
    .slice(0, 24)}`;
}

function notFoundAsUndefined(err: unknown): undefined {
  if (isStateError(err) && err.code === "not_found") return undefined;
  throw err;
}

function invalid(error: z.ZodError): InvalidError {
  const issue = error.issues[0]!;
  return new InvalidError(`${issue.path.join(".") || "body"}: ${issue.message}`, { field: issue.path.join(".") });
}

function encodeCursor(updatedAt: Date, key: string): string {
  return Buffer.from(JSON.stringify([updatedAt.toISOString(), key])).toString("base64url");
}

function decodeCursor(cursor: string): { updatedAt: Date; key: string } {
  try {
    const [at, key] = JSON.parse(Buffer.from(cursor, "base64url").toString()) as [string, string];
    const updatedAt = new Date(at);
    if (typeof key !== "string" || !MEMORY_ID.test(key) || Number.isNaN(updatedAt.getTime()))
      throw new Error("bad cursor");
    return { updatedAt, key };
  } catch {
    throw new InvalidError("cursor is not one this server gave", { field: "cursor" });
  }
}
