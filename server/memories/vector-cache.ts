// A user's memory vectors kept in this process between searches, checked against the warm tier on
// every use: a search (and every memory added, for the near-duplicate check) compares the query with
// all of a user's vectors, and reading 10 000 of them out of their JSON values costs more than the
// comparison itself. The check is one small query (count, versions and latest change of the user's
// live memories through the userId index); anything written, deleted or expired since changes it, on
// any instance, so a cached entry is never served stale.
import type { Embedder } from "./embedder";
import { decodeVector } from "./embedder";
import { type MemoryRepository, type MemoryVersion, stampOfMemories } from "./memory-repository";

export interface CachedVector {
  key: string;
  kind: string;
  agent: string | null;
  vector: Float32Array;
}

type Held = CachedVector & MemoryVersion;

interface Entry {
  stamp: string;
  vectors: Held[];
  bytes: number;
}

/** Bytes kept at most (least recently used users go first): 64 MiB is ~6 users with 10 000 memories each. */
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** What one vector costs besides its floats: its key, kind and the object holding them. */
const ENTRY_OVERHEAD_BYTES = 160;

export class UserVectorCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly repository: Pick<MemoryRepository, "vectorStamp" | "vectors" | "versions">,
    private readonly embedder: Embedder,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  /**
   * The vectors of the user's live memories (at most `limit`), made with the current embedder: those of
   * another model (the embedder changed) are embedded again, and kept so only once per change. After a
   * change only what changed is read again: the memories' keys and versions, then the new vectors.
   */
  async of(tenant: string, userId: string, limit: number): Promise<CachedVector[]> {
    const id = `${tenant}\u0000${userId}`;
    const cached = this.entries.get(id);
    if (cached && cached.stamp === (await this.repository.vectorStamp(tenant, userId))) {
      this.entries.delete(id); // most recently used last
      this.entries.set(id, cached);
      return cached.vectors;
    }
    let vectors: Held[];
    if (cached) {
      const held = new Map(cached.vectors.map((v) => [v.key, v]));
      const current = await this.repository.versions(tenant, userId, limit);
      const same = (m: MemoryVersion) => {
        const h = held.get(m.key);
        return h !== undefined && h.version === m.version && h.updatedAt === m.updatedAt;
      };
      const changed = current.filter((m) => !same(m)).map((m) => m.key);
      const read = changed.length ? await this.read(tenant, userId, limit, changed) : [];
      vectors = [...current.filter(same).map((m) => held.get(m.key)!), ...read];
    } else {
      vectors = await this.read(tenant, userId, limit);
    }
    // The stamp of exactly what is held: if anything changed between the reads, the next use sees it.
    this.keep(id, {
      stamp: stampOfMemories(vectors),
      vectors,
      bytes: vectors.reduce((n, v) => n + v.vector.byteLength + ENTRY_OVERHEAD_BYTES, 0),
    });
    return vectors;
  }

  /** Drops what the process holds of a user (forgetting them). */
  forget(tenant: string, userId: string): void {
    const id = `${tenant}\u0000${userId}`;
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    this.bytes -= e.bytes;
  }

  private async read(tenant: string, userId: string, limit: number, keys?: readonly string[]): Promise<Held[]> {
    const rows = await this.repository.vectors(tenant, userId, limit, this.embedder.model, keys);
    const stale = rows.filter((r) => r.vector === null);
    const fresh = stale.length ? await this.embedder.embed(stale.map((r) => r.text ?? "")) : [];
    const reembedded = new Map(stale.map((r, i) => [r.key, fresh[i]!]));
    return rows.map((r) => ({
      key: r.key,
      version: r.version,
      updatedAt: r.updatedAt,
      kind: r.kind,
      agent: r.agent,
      vector: reembedded.get(r.key) ?? decodeVector(r.vector!),
    }));
  }

  private keep(id: string, entry: Entry): void {
    const previous = this.entries.get(id);
    if (previous) {
      this.entries.delete(id);
      this.bytes -= previous.bytes;
    }
    if (entry.bytes > this.maxBytes) return;
    this.entries.set(id, entry);
    this.bytes += entry.bytes;
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
    }
  }
}
