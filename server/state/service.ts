import fastJsonPatch, { type Operation } from "fast-json-patch";
import { InvalidError, isConflict, NotFoundError, StateError } from "./errors";
import type { NamespacePolicy, NamespaceRegistry } from "./namespaces";
import {
  type DeleteResult,
  type HistoryEntry,
  type ListOptions,
  type ListPage,
  type ReadOptions,
  type StateRecord,
  type StateRef,
  type StateStore,
  type TransactionResult,
  encodeValue,
} from "./store";


export type PatchFormat = "merge" | "json-patch";

export interface Precondition {
  /** If-Match: the write applies only to this version. */
  ifVersion?: number;
  /** If-None-Match: * — create only. */
  createOnly?: boolean;
}

export interface PutRequest extends Precondition {
  ttlSeconds?: number;
  /** Write without expiry even if the namespace has a default TTL (a patch of a record that has none). */
  keepNoExpiry?: boolean;
  actor?: string;
}

export interface WriteOutcome {
  record: StateRecord;
  created: boolean;
  /** Set when the value is over its namespace's warning level (the write still succeeded). */
  sizeWarning?: { sizeBytes: number; warnBytes: number; failBytes: number };
}

export interface HistoryItem extends HistoryEntry {
  /** RFC 6902 operations that turn the previous version's value into this one's. */
  patch: Operation[];
}

export type TransactionRequestOp =
  | { op: "put"; namespace: string; key: string; value: unknown; ifVersion?: number; createOnly?: boolean; ttlSeconds?: number }
  | { op: "delete"; namespace: string; key: string; ifVersion?: number };

const PATCH_RETRIES = 20;

/**
 * The state engine as product code sees it: the tiered store plus each namespace's policy (declared
 * namespaces only, size limits, default TTLs, required preconditions) and the operations built on top
 * (patches with compare-and-set, history with diffs). HTTP handlers and agents call this, never a tier.
 */
export class StateService {
  constructor(
    readonly store: StateStore,
    readonly namespaces: NamespaceRegistry,
    /** Told of lifecycle actions (size warnings, rejections), for the lifecycle events counter. */
    private readonly onLifecycle: (event: string, namespace: string) => void = () => {},
  ) {}

  policy(namespace: string): NamespacePolicy {
    const p = this.namespaces.getOrThrow(namespace);
    if (p.internal) throw new StateError("unknown_namespace", `no namespace named ${JSON.stringify(namespace)}`, { namespace });
    return p;
  }

  async getOrThrow(ref: StateRef, options: ReadOptions = {}): Promise<StateRecord> {
    const policy = this.policy(ref.namespace);
    const record = await this.store.get(ref, { consistency: options.consistency ?? policy.consistency });
    if (!record) throw new NotFoundError(ref);
    return record;
  }

  async put(ref: StateRef, value: unknown, request: PutRequest = {}): Promise<WriteOutcome> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    const sizeWarning = this.checkSize(policy, value);
    const record = await this.store.put(ref, value, {
      ifVersion: request.ifVersion,
      createOnly: request.createOnly,
      ttlSeconds: request.ttlSeconds ?? (request.keepNoExpiry ? undefined : policy.ttlSeconds),
      schemaVersion: policy.schemaVersion,
      actor: request.actor,
    });
    // A record (re)created by this write starts its life now; an update keeps its creation time.
    return { record, created: record.createdAt.getTime() === record.updatedAt.getTime(), sizeWarning };
  }

  /**
   * Applies a merge patch (RFC 7396) or JSON Patch (RFC 6902) atomically: read, apply, compare-and-set.
   * With `ifVersion` a concurrent change is a conflict; without it the patch is retried on the newer value.
   */
  async patch(ref: StateRef, format: PatchFormat, patch: unknown, request: Omit<PutRequest, "createOnly"> = {}): Promise<WriteOutcome> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    if (format === "json-patch") {
      if (!Array.isArray(patch)) throw new InvalidError("a JSON Patch document is an array of operations");
      const problem = fastJsonPatch.validate(patch as Operation[]);
      if (problem) throw new InvalidError(`invalid JSON Patch: ${problem.name}`, { operation: problem.index });
    }
    for (let attempt = 0; ; attempt++) {
      const current = await this.store.get(ref, { consistency: "strong" });
      if (!current) throw new NotFoundError(ref);
      if (request.ifVersion !== undefined && current.version !== request.ifVersion) {
        throw new StateError("version_conflict", `expected version ${request.ifVersion}, current is ${current.version}`, { expected: request.ifVersion, currentVersion: current.version });
      }
      const next = format === "merge" ? mergePatch(current.value, patch) : applyJsonPatch(current.value, patch as Operation[]);
      // A patch changes the value, not the record's life: keep its expiry.
      const keepExpiry = current.expiresAt ? Math.max(0.001, (current.expiresAt.getTime() - Date.now()) / 1000) : undefined;
      try {
        return await this.put(ref, next, { ...request, ifVersion: current.version, ttlSeconds: request.ttlSeconds ?? keepExpiry, keepNoExpiry: !current.expiresAt });
      } catch (err) {
        if (!isConflict(err) || request.ifVersion !== undefined || attempt >= PATCH_RETRIES) throw err;
      }
    }
  }

  async delete(ref: StateRef, request: Pick<PutRequest, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    const policy = this.policy(ref.namespace);
    this.requirePrecondition(policy, request);
    return this.store.delete(ref, request);
  }

  async list(tenant: string, namespace: string, options: ListOptions): Promise<ListPage> {
    this.policy(namespace);
    return this.store.list(tenant, namespace, options);
  }

  /** Versions newest first, each with the JSON Patch from the version before it. */
  async history(ref: StateRef, options: { limit?: number; before?: number } = {}): Promise<HistoryItem[]> {
    this.policy(ref.namespace);
    const limit = options.limit ?? 20;
    // One extra, older entry so the oldest shown version has something to diff against.
    const entries = await this.store.history(ref, { limit: Math.min(limit + 1, 1000), before: options.before });
    const shown = entries.slice(0, limit);
    return shown.map((entry, i) => {
      const previous = entries[i + 1];
      const from = previous && previous.version === entry.version - 1 ? previous.value : null;
      return { ...entry, patch: diff(from, entry.value) };
    });
  }

  async versionOrThrow(ref: StateRef, version: number): Promise<HistoryEntry> {
    this.policy(ref.namespace);
    const entry = await this.store.getVersion(ref, version);
    if (!entry) throw new NotFoundError(ref);
    return entry;
  }

  async transact(tenant: string, ops: readonly TransactionRequestOp[], actor?: string): Promise<TransactionResult[]> {
    const prepared = ops.map((op) => {
      const policy = this.policy(op.namespace);
      const ref = { tenant, namespace: op.namespace, key: op.key };
      this.requirePrecondition(policy, { ifVersion: op.ifVersion, createOnly: op.op === "put" && op.createOnly });
      if (op.op === "put") {
        this.checkSize(policy, op.value);
        return { op: "put" as const, ref, value: op.value, options: { ifVersion: op.ifVersion, createOnly: op.createOnly, ttlSeconds: op.ttlSeconds ?? policy.ttlSeconds, schemaVersion: policy.schemaVersion, actor } };
      }
      return { op: "delete" as const, ref, options: { ifVersion: op.ifVersion, actor } };
    });
    return this.store.transact(prepared);
  }

  private requirePrecondition(policy: NamespacePolicy, request: Precondition): void {
    if (policy.requirePrecondition && request.ifVersion === undefined && !request.createOnly) {
      throw new StateError("precondition_required", `namespace ${policy.name} requires If-Match or If-None-Match on writes`);
    }
  }

  private checkSize(policy: NamespacePolicy, value: unknown): WriteOutcome["sizeWarning"] {
    const { sizeBytes } = encodeValue(value);
    const { warn, fail } = policy.maxBytes;
    if (sizeBytes > fail) {
      this.onLifecycle("size_rejected", policy.name);
      throw new StateError("too_large", `value is ${sizeBytes} bytes; namespace ${policy.name} allows at most ${fail}`, { sizeBytes, limitBytes: fail });
    }
    if (sizeBytes <= warn) return undefined;
    this.onLifecycle("size_warning", policy.name);
    return { sizeBytes, warnBytes: warn, failBytes: fail };
  }
}

/** RFC 7396 JSON Merge Patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function applyJsonPatch(value: unknown, ops: Operation[]): unknown {
  try {
    return fastJsonPatch.applyPatch(structuredClone(value), ops, true, false).newDocument;
  } catch (err) {
    const e = err as { name?: string; index?: number };
    throw new InvalidError(`JSON Patch cannot be applied: ${e.name ?? "error"}`, { operation: e.index });
  }
}

function diff(from: unknown, to: unknown): Operation[] {
  const isContainer = (v: unknown) => v !== null && typeof v === "object";
  if (isContainer(from) && isContainer(to) && Array.isArray(from) === Array.isArray(to)) {
    return fastJsonPatch.compare(from as object, to as object);
  }
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ op: "replace", path: "", value: to }];
}
