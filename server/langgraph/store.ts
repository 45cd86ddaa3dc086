// LangGraph's long-term store, as Statehouse state: each item (a namespace path, a key, a JSON object)
// is one record of the `store` namespace — versions, history, TTLs, size limits and metrics come with
// it — and `query` searches it with the memories' hybrid ranking (full text fused with vectors).
import { decodeVector, type Embedder, encodeVector } from "../memories/embedder";
import { fuse, searchTerms } from "../memories/ranking";
import { InvalidError, isStateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRecord, StateRef } from "../state/store";
import { STORE_NAMESPACE } from "./namespaces";
import type { StoreRepository, ValueFilter } from "./store-repository";

/** The most item bytes one search answers: past it, fewer items than `limit` (each item is at most 1 MiB). */
export const MAX_SEARCH_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Candidates of one search's exact vector scan: the first items under the prefix (documented bound). */
export const MAX_STORE_CANDIDATES = 10_000;
/** Text indexed per item (the value's strings, or the fields `index` names). */
const MAX_INDEXED_CHARS = 4000;
const MAX_LABELS = 10;

export interface StoreItem {
  namespace: string[];
  key: string;
  value: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  score?: number;
}

interface StoredItem {
  namespace: string[];
  key: string;
  value: Record<string, unknown>;
  /** What search reads: "" when the item is not indexed (index: false). */
  text: string;
  embedding?: { model: string; vector: string };
}

/** A namespace path: 1–10 labels of 1–64 characters, none with a period (LangGraph's separator). */
export function validateNamespace(labels: unknown, field: string, allowEmpty = false): string[] {
  if (!Array.isArray(labels) || labels.length > MAX_LABELS || (!allowEmpty && labels.length === 0))
    throw new InvalidError(`${field} must be a list of 1 to ${MAX_LABELS} labels`, { field });
  for (const label of labels)
    if (
      typeof label !== "string" ||
      label.length === 0 ||
      label.length > 64 ||
      label.includes(".") ||
      /\p{Cc}/u.test(label)
    )
      throw new InvalidError(`${field}: each label is 1-64 characters without '.' or control characters`, { field });
  return labels as string[];
}

/** The record key of an item: the JSON of its path and key, so a path prefix is a key prefix. */
function recordKey(namespace: readonly string[], key: string): string {
  return JSON.stringify([...namespace, key]);
}

/** The key prefix of every item at or under `prefix`. */
function prefixOf(prefix: readonly string[]): string {
  return prefix.length === 0 ? "[" : `${JSON.stringify(prefix).slice(0, -1)},`;
}

/** The text an item is searched by: its string leaves (or the dotted fields `index` names), bounded. */
export function indexedText(
  value: Record<string, unknown>,
  index: readonly string[] | false | null | undefined,
): string {
  if (index === false) return "";
  const parts: string[] = [];
  let size = 0;
  const walk = (v: unknown, depth: number) => {
    if (size >= MAX_INDEXED_CHARS || depth > 16) return;
    if (typeof v === "string") {
      parts.push(v);
      size += v.length + 1;
    } else if (typeof v === "number" || typeof v === "boolean") parts.push(String(v));
    else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
    else if (v && typeof v === "object") for (const x of Object.values(v)) walk(x, depth + 1);
  };
  if (index)
    for (const path of index)
      walk(
        path.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], value),
        0,
      );
  else walk(value, 0);
  return parts.join(" ").slice(0, MAX_INDEXED_CHARS);
}

function itemOf(record: StateRecord, score?: number): StoreItem {
  const stored = record.value as StoredItem;
  return {
    namespace: stored.namespace,
    key: stored.key,
    value: stored.value,
    created_at: record.createdAt.toISOString(),
    updated_at: record.updatedAt.toISOString(),
    ...(score === undefined ? {} : { score }),
  };
}

export class StoreService {
  constructor(
    private readonly state: StateService,
    private readonly repository: StoreRepository,
    private readonly embedder: Embedder,
    private readonly warm: <T>(fn: () => Promise<T>) => Promise<T>,
    /** Each search with a query: its duration (statehouse.memory.search.duration). */
    private readonly onSearch: (seconds: number) => void = () => {},
  ) {}

  /** Creates or replaces an item; `ttlMinutes` is a sliding expiry (each read through the store refreshes it). */
  async put(
    tenant: string,
    item: {
      namespace: string[];
      key: string;
      value: Record<string, unknown>;
      index?: string[] | false | null;
      ttlMinutes?: number | null;
    },
    actor?: string,
  ): Promise<void> {
    const text = indexedText(item.value, item.index);
    const stored: StoredItem = { namespace: item.namespace, key: item.key, value: item.value, text };
    if (text) {
      const [vector] = await this.embedder.embed([text]);
      stored.embedding = { model: this.embedder.model, vector: encodeVector(vector!) };
    }
    await this.state.put(this.ref(tenant, item.namespace, item.key), stored, {
      actor,
      ...(item.ttlMinutes ? { idleTtlSeconds: item.ttlMinutes * 60 } : {}),
    });
  }

  /** The item, or null when there is none (LangGraph's client expects 200 null, not 404). */
  async get(tenant: string, namespace: string[], key: string, refreshTtl = true): Promise<StoreItem | null> {
    const ref = this.ref(tenant, namespace, key);
    try {
      const record = refreshTtl ? await this.state.getOrThrow(ref) : await this.state.readStored(ref);
      return record ? itemOf(record) : null;
    } catch (err) {
      if (isStateError(err) && err.code === "not_found") return null;
      throw err;
    }
  }

  /** Deletes the item; deleting one that is not there is not an error (as in LangGraph). */
  async delete(tenant: string, namespace: string[], key: string, actor?: string): Promise<void> {
    try {
      await this.state.delete(this.ref(tenant, namespace, key), { actor });
    } catch (err) {
      if (!(isStateError(err) && err.code === "not_found")) throw err;
    }
  }

  /**
   * Items at or under `prefix`: with `query`, by the memories' hybrid ranking (an exact cosine scan over
   * at most MAX_STORE_CANDIDATES items) with `score`; without, most recently changed first.
   */
  async search(
    tenant: string,
    request: { prefix: string[]; filter: ValueFilter; limit: number; offset: number; query?: string },
  ): Promise<StoreItem[]> {
    const prefix = prefixOf(request.prefix);
    if (!request.query) {
      const found = await this.warm(() =>
        this.repository.items(tenant, prefix, request.filter, request.limit, request.offset),
      );
      return this.itemsWithin(tenant, found);
    }
    const started = performance.now();
    const [queryVector] = await this.embedder.embed([request.query]);
    const [matches, vectors] = await this.warm(() =>
      Promise.all([
        this.repository.fullText(tenant, prefix, searchTerms(request.query!), request.filter, 1000),
        this.repository.vectors(tenant, prefix, request.filter, MAX_STORE_CANDIDATES),
      ]),
    );
    const stale = vectors.filter((v) => v.model !== this.embedder.model || !v.vector);
    const fresh = stale.length ? await this.embedder.embed(stale.map((v) => v.text)) : [];
    const reembedded = new Map(stale.map((v, i) => [v.key, fresh[i]!]));
    const ranked = fuse(
      matches,
      vectors.map((v) => ({ key: v.key, vector: reembedded.get(v.key) ?? decodeVector(v.vector!) })),
      queryVector!,
    ).slice(request.offset, request.offset + request.limit);
    const sizes = await this.warm(() =>
      this.repository.sizes(
        tenant,
        ranked.map((r) => r.key),
      ),
    );
    const scores = new Map(ranked.map((r) => [r.key, r.score]));
    const items = await this.itemsWithin(
      tenant,
      ranked.flatMap((r) => (sizes.has(r.key) ? [{ key: r.key, size: sizes.get(r.key)! }] : [])),
      scores,
    );
    this.onSearch((performance.now() - started) / 1000);
    return items;
  }

  /**
   * The items of `found`, in its order, as many as fit MAX_SEARCH_RESPONSE_BYTES (at least one): their
   * sizes are known before any value is read, so one search never reads more than that.
   */
  private async itemsWithin(
    tenant: string,
    found: readonly { key: string; size: number }[],
    scores?: Map<string, number>,
  ): Promise<StoreItem[]> {
    const chosen: string[] = [];
    let bytes = 0;
    for (const f of found) {
      if (chosen.length > 0 && bytes + f.size > MAX_SEARCH_RESPONSE_BYTES) break;
      chosen.push(f.key);
      bytes += f.size;
    }
    const records = new Map((await this.warm(() => this.repository.records(tenant, chosen))).map((r) => [r.key, r]));
    return chosen.flatMap((key) => {
      const record = records.get(key);
      return record ? [itemOf(record, scores?.get(key))] : [];
    });
  }

  /** Namespace paths in use under `prefix`, ending in `suffix`, cut to `maxDepth` labels, deduplicated. */
  async namespaces(
    tenant: string,
    request: { prefix: string[]; suffix?: string[]; maxDepth?: number; limit: number; offset: number },
  ): Promise<string[][]> {
    const found = await this.warm(() =>
      this.repository.namespaces(tenant, prefixOf(request.prefix), MAX_STORE_CANDIDATES),
    );
    const suffix = request.suffix ?? [];
    const seen = new Map<string, string[]>();
    for (const ns of found) {
      if (suffix.length && JSON.stringify(ns.slice(-suffix.length)) !== JSON.stringify(suffix)) continue;
      const cut = request.maxDepth ? ns.slice(0, request.maxDepth) : ns;
      seen.set(JSON.stringify(cut), cut);
    }
    return [...seen.values()]
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
      .slice(request.offset, request.offset + request.limit);
  }

  private ref(tenant: string, namespace: readonly string[], key: string): StateRef {
    return { tenant, namespace: STORE_NAMESPACE, key: recordKey(namespace, key) };
  }
}
